# Sourced by the scripts that build pinned tools into bin/tools (hack/chart-tools.sh, hack/lint-tools.sh,
# hack/test-tools.sh). Each tool is a module in hack/tools/<name> whose go.mod pins it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ROOT}/bin/tools"
mkdir -p "${BIN}"

# version <tool> <module path>: the pinned version of a module, from that tool's go.mod.
version() { (cd "${ROOT}/hack/tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# build <name> <command package> <ldflags>: builds one tool when missing or its pins changed.
# The stamp covers the pins and the scripts, so a changed build recipe rebuilds too.
build() {
    local name="$1" pkg="$2" ldflags="$3" dir="${ROOT}/hack/tools/$1"
    local want have
    want="$(cat "${dir}/go.mod" "${dir}/go.sum" "${BASH_SOURCE[0]}" "$0" | sha256sum | cut -d' ' -f1)"
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
