#!/usr/bin/env bash
# Builds the test tools named as arguments (alertmanager, hey; default alertmanager) into bin/tools
# from the Go module proxy, each pinned in hack/tools/<name>/go.mod. Rebuilds only when a binary
# is missing or its pins changed, so a second run is a no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/bin/tools"
mkdir -p "${BIN}"

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

for tool in "${@:-alertmanager}"; do
    case "${tool}" in
    alertmanager)
        # v0.28.1 is the last tag whose module carries the UI assets it embeds.
        am_version="$(version alertmanager github.com/prometheus/alertmanager)"
        build alertmanager github.com/prometheus/alertmanager/cmd/alertmanager \
            "-X github.com/prometheus/common/version.Version=${am_version#v} -X github.com/prometheus/common/version.Branch=module"
        ;;
    hey)
        build hey github.com/rakyll/hey ""
        ;;
    *)
        echo "unknown tool ${tool}; want alertmanager or hey" >&2
        exit 2
        ;;
    esac
done
