#!/usr/bin/env bash
# Builds helm and promtool into bin/tools from the Go module proxy (pinned in hack/tools/helm and
# hack/tools/promtool). Rebuilds only when a binary is missing or a pin changed; the Go build cache
# makes a rebuild on the same machine fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/bin/tools"
mkdir -p "${BIN}"

# version <module dir> <module path>: the pinned version of a module, from that tool's go.mod.
version() { (cd "${ROOT}/hack/tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# build <name> <command package> <ldflags>: builds one tool when missing or its pins changed.
build() {
    local name="$1" pkg="$2" ldflags="$3" dir="${ROOT}/hack/tools/$1"
    local want have
    want="$(cat "${dir}/go.mod" "${dir}/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
    have="$(cat "${BIN}/.${name}.stamp" 2>/dev/null || true)"
    if [[ "${want}" == "${have}" && -x "${BIN}/${name}" ]]; then
        echo "${name} in ${BIN} is current"
        return
    fi
    local started
    started=$(date +%s)
    echo "building ${name} into ${BIN}"
    (cd "${dir}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "${BIN}/${name}" "${pkg}")
    echo "${want}" > "${BIN}/.${name}.stamp"
    echo "${name} built in $(( $(date +%s) - started ))s"
}

helm_version="$(version helm helm.sh/helm/v3)"
# The default Kubernetes version helm renders and lints against follows its client-go, as helm's
# own release build sets it (client-go v0.N.x is Kubernetes 1.N).
client_go="$(version helm k8s.io/client-go)"
kube_minor="$(cut -d. -f2 <<<"${client_go}")"
build helm helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=${helm_version} \
     -X helm.sh/helm/v3/internal/version.metadata= \
     -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${kube_minor} \
     -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${kube_minor}"

# Module v0.316.0 is Prometheus 3.16.0; the module carries the release number in its VERSION file.
prometheus_dir="$(cd "${ROOT}/hack/tools/promtool" && go mod download -json github.com/prometheus/prometheus | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
build promtool github.com/prometheus/prometheus/cmd/promtool \
    "-X github.com/prometheus/common/version.Version=$(cat "${prometheus_dir}/VERSION")"

echo "helm $("${BIN}/helm" version --template '{{.Version}}'), promtool $("${BIN}/promtool" --version 2>&1 | head -1 | cut -d' ' -f3)"
