#!/usr/bin/env bash
# Builds the sandbox's control plane (Kubernetes and etcd, pinned in hack/tools/{etcd,k8s}/go.mod) from
# the Go module proxy into the tool cache of hack/lib/build-tool.sh, linked from bin/k8s, and its S3
# server, versitygw (through hack/test-tools.sh, which the tests share); installs Debian's
# redis-server and redis exporter when missing. Builds only what the cache lacks.
set -euo pipefail

# shellcheck source=lib/build-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build-tool.sh"
K8S="${ROOT}/bin/k8s"
mkdir -p "${K8S}"

binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
version=v1.37.2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
k="$(key "${binaries[*]} -trimpath ${ldflags}" "${ROOT}"/hack/tools/{etcd,k8s}/go.{mod,sum})"
if cached k8s "${k}" "${K8S}" "${binaries[@]}"; then
    echo "control plane ${k} is cached in ${CACHE}"
else
    started=$(date +%s)
    # Built aside and moved in whole: a build cut off leaves nothing the cache would take.
    out="${CACHE}/k8s/${k}.partial"
    rm -rf "${out}"
    mkdir -p "${out}"
    echo "building etcd into ${out}"
    (cd "${ROOT}/hack/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "${out}/etcd" .)
    echo "building kube-apiserver, kube-controller-manager, kube-scheduler and kubectl ${version} into ${out}"
    (cd "${ROOT}/hack/tools/k8s" && go build -trimpath \
        -ldflags "${ldflags}" \
        -o "${out}/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
    mv "${out}" "${CACHE}/k8s/${k}"
    cached k8s "${k}" "${K8S}" "${binaries[@]}"
    echo "control plane built in $(( $(date +%s) - started ))s"
fi
"${ROOT}/hack/test-tools.sh" versitygw

# Debian's packages, when missing: redis-server and redis-cli, and the exporter the sandbox runs
# for the sidecar's /redis_exporter. Each package starts a system service; the tests start their own.
packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
command -v redis-cli >/dev/null || packages+=(redis-tools)
command -v prometheus-redis-exporter >/dev/null || packages+=(prometheus-redis-exporter)
if [[ ${#packages[@]} -gt 0 ]]; then
    echo "installing ${packages[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    for service in "${packages[@]}"; do
        (service "${service}" stop || pkill -x "${service}" || true) >/dev/null 2>&1
    done
fi
echo "redis: $(redis-server --version | head -1)"
