#!/usr/bin/env bash
# Measures, in the sandbox, a 3x1 cluster with 100,000 keys and 8 writers replacing all 6 pods
# twice in the same run: by the operator's rolling update (a spec.resources change), and by
# deleting each pod in index order as a StatefulSet would. Prints time, longest write gap and
# refused writes side by side; fails if a key or an acknowledged write was lost.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
hack/sandbox-binaries.sh >/dev/null
# 40m leaves room for waiting on another e2e run's lock.
go test ./test/e2e -run '^$' -bench '^BenchmarkRoll$' -benchtime 1x -count 1 -timeout 40m
