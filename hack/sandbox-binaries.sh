#!/usr/bin/env bash
# Builds the sandbox's control plane into bin/k8s from the Go module proxy (Kubernetes and etcd
# pinned in hack/tools/{etcd,k8s}/go.mod) and its S3 server, versitygw, into bin/tools (through
# hack/test-tools.sh, which the tests share), and installs Debian's redis-server and redis exporter when missing. Rebuilds
# only when the pinned versions change; the Go build cache makes a rebuild on the same machine fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/bin/k8s"
mkdir -p "${BIN}"

stamp() { cat "${ROOT}"/hack/tools/{etcd,k8s}/go.{mod,sum} "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1; }
want="$(stamp)"
have="$(cat "${BIN}/.stamp" 2>/dev/null || true)"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
missing=0
for b in "${binaries[@]}"; do [[ -x "${BIN}/${b}" ]] || missing=1; done

if [[ "${want}" != "${have}" || ${missing} -eq 1 ]]; then
    started=$(date +%s)
    echo "building etcd into ${BIN}"
    (cd "${ROOT}/hack/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "${BIN}/etcd" .)
    version=v1.37.2
    echo "building kube-apiserver, kube-controller-manager, kube-scheduler and kubectl ${version} into ${BIN}"
    (cd "${ROOT}/hack/tools/k8s" && go build -trimpath \
        -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
        -o "${BIN}/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
    echo "${want}" > "${BIN}/.stamp"
    echo "control plane built in $(( $(date +%s) - started ))s"
else
    echo "control plane binaries in ${BIN} are current"
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
