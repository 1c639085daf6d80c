#!/usr/bin/env bash
# Fails when the generated code or the CRD differ from what hack/update-codegen.sh makes of the
# current API types. The working tree is left as it was.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
GENERATED=(pkg/generated pkg/apis charts/redis-operator/crds)

SNAPSHOT="$(mktemp -d)"
restore() {
    for path in "${GENERATED[@]}"; do
        rm -rf "${ROOT:?}/${path}"
        mkdir -p "$(dirname "${ROOT}/${path}")"
        cp -a "${SNAPSHOT}/${path}" "${ROOT}/${path}"
    done
    rm -rf "${SNAPSHOT}"
}
for path in "${GENERATED[@]}"; do
    mkdir -p "${SNAPSHOT}/$(dirname "${path}")"
    cp -a "${path}" "${SNAPSHOT}/${path}"
done
trap restore EXIT

"${ROOT}/hack/update-codegen.sh" >/dev/null

status=0
for path in "${GENERATED[@]}"; do
    if ! diff -Naupr "${SNAPSHOT}/${path}" "${ROOT}/${path}"; then
        status=1
    fi
done
if [[ ${status} -ne 0 ]]; then
    echo "generated files are out of date: run hack/update-codegen.sh" >&2
    exit 1
fi
echo "generated files are up to date"
