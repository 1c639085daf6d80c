#!/usr/bin/env bash
# Builds helm and promtool into bin/tools from the Go module proxy (pinned in hack/tools/helm and
# hack/tools/promtool), through the tool cache of lib/build-tool.sh: built once per pin per machine.
set -euo pipefail

# shellcheck source=lib/build-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build-tool.sh"

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
