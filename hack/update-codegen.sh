#!/usr/bin/env bash
# Regenerates everything derived from the API types in pkg/apis: deepcopy functions, the typed
# clientset with listers, informers and apply configurations in pkg/generated, and the CRD.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
MODULE="$(go list -m)"
OUT_DIR="${OUT_DIR:-pkg/generated}"

# kube_codegen.sh installs its generators into GOBIN; keep them in the ignored bin/ folder.
export GOBIN="${ROOT}/bin/tools"
# go list -m names no directory until the module is in the module cache, as on a fresh machine.
go mod download k8s.io/code-generator
CODEGEN_PKG="$(go list -m -f '{{.Dir}}' k8s.io/code-generator)"
if [[ -z "${CODEGEN_PKG}" ]]; then
    echo "k8s.io/code-generator: no module directory after go mod download" >&2
    exit 1
fi
# shellcheck source=/dev/null
source "${CODEGEN_PKG}/kube_codegen.sh"

kube::codegen::gen_helpers \
    --boilerplate "${ROOT}/hack/boilerplate.go.txt" \
    "${ROOT}/pkg/apis"

kube::codegen::gen_client \
    --with-watch \
    --with-applyconfig \
    --output-dir "${OUT_DIR}" \
    --output-pkg "${MODULE}/pkg/generated" \
    --boilerplate "${ROOT}/hack/boilerplate.go.txt" \
    "${ROOT}/pkg/apis"

CRD_DIR="${CRD_DIR:-charts/redis-operator/crds}" "${ROOT}/hack/update-crds.sh"
