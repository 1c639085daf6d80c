#!/usr/bin/env bash
# Measures, in the sandbox, what the operator costs as clusters add up: one cluster, then 20 (3x1, exporters
# off) created at once until all are Ready, each followed by an idle stretch (BENCH_IDLE, default 5m): the
# operator's CPU, memory and Kubernetes API requests per minute (writes beside their target, 0);
# then a change's latency, side by side.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
hack/sandbox-binaries.sh >/dev/null
go test ./test/e2e -run '^$' -bench '^BenchmarkClusters$' -benchtime 1x -count 1 -timeout 60m
