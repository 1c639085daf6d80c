#!/usr/bin/env bash
# Writes the RedisCluster CRD from the markers on the Go types, so the schema is a product of
# pkg/apis and never edited by hand.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
CRD_DIR="${CRD_DIR:-charts/redis-operator/crds}"
mkdir -p "${CRD_DIR}"
go tool controller-gen crd paths=./pkg/apis/... output:crd:artifacts:config="${CRD_DIR}"
