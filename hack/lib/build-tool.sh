# Sourced by the scripts that build pinned tools (hack/chart-tools.sh, hack/lint-tools.sh,
# hack/test-tools.sh, hack/sandbox-binaries.sh). Each tool is a module in hack/tools/<name> whose
# go.mod pins it. A build lands in a cache outside the checkout, keyed by the pins and the build
# flags, and bin/ links to it: a fresh clone on the same machine reuses what an earlier one built.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ROOT}/bin/tools"
CACHE="${REDIS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/redis-operator}"
mkdir -p "${BIN}"

# version <tool> <module path>: the pinned version of a module, from that tool's go.mod.
version() { (cd "${ROOT}/hack/tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# key <recipe> <file>...: the cache key of a build made with recipe (its packages and flags)
# from these files (go.mod and go.sum).
key() { { echo "$1"; cat "${@:2}"; } | sha256sum | cut -c1-16; }

# cached <name> <key> <folder> <binary>...: links the binaries built under that key into folder
# and succeeds, or fails when the cache does not hold them all.
cached() {
    local dir="${CACHE}/$1/$2" into="$3" b
    shift 3
    for b in "$@"; do [[ -x "${dir}/${b}" ]] || return 1; done
    for b in "$@"; do ln -sfn "${dir}/${b}" "${into}/${b}"; done
}

# build <name> <command package> <ldflags>: builds one tool when the cache lacks its key.
build() {
    local name="$1" pkg="$2" ldflags="$3" dir="${ROOT}/hack/tools/$1" k
    k="$(key "${pkg} -trimpath -s -w ${ldflags}" "${dir}/go.mod" "${dir}/go.sum")"
    if cached "${name}" "${k}" "${BIN}" "${name}"; then
        echo "${name} ${k} is cached in ${CACHE}"
        return
    fi
    local started out="${CACHE}/${name}/${k}"
    started=$(date +%s)
    echo "building ${name} into ${out}"
    mkdir -p "${out}"
    (cd "${dir}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "${out}/${name}.partial" "${pkg}")
    mv "${out}/${name}.partial" "${out}/${name}"
    cached "${name}" "${k}" "${BIN}" "${name}"
    echo "${name} built in $(( $(date +%s) - started ))s"
}
