#!/usr/bin/env bash
# Measures, in the sandbox, how long a new seed cluster takes to become Ready and how long the
# cluster takes to be Ready again after a master's pod is deleted, each the median of 5 runs,
# beside the floor Redis sets: redis-cli --cluster create on plain local servers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
hack/sandbox-binaries.sh >/dev/null
go test ./test/e2e -run '^$' -bench '^BenchmarkReady$' -benchtime 1x -count 1 -timeout 30m
