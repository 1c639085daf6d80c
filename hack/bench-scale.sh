#!/usr/bin/env bash
# Measures 3 -> 4 masters with 200,000 keys through the operator in the sandbox, beside
# redis-cli --cluster add-node + rebalance --cluster-use-empty-masters on local servers, plain and TLS,
# in the same run on the same machine, and prints the ratio.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
hack/sandbox-binaries.sh >/dev/null
go test ./test/e2e -run '^$' -bench '^BenchmarkScaleOut$' -benchtime 1x -count 1 -timeout 30m
