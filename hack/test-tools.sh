#!/usr/bin/env bash
# Builds the test tools named as arguments (alertmanager, hey, versitygw; default alertmanager)
# into bin/tools from the Go module proxy, each pinned in hack/tools/<name>/go.mod, through the tool
# cache of lib/build-tool.sh: built once per pin per machine, so a second run is a no-op.
set -euo pipefail

# shellcheck source=lib/build-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build-tool.sh"

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
    versitygw)
        # The S3 server of test/s3test and the sandbox; --version prints these.
        build versitygw github.com/versity/versitygw/cmd/versitygw \
            "-X main.Version=$(version versitygw github.com/versity/versitygw) -X main.Build=module -X main.BuildTime=none"
        ;;
    *)
        echo "unknown tool ${tool}; want alertmanager, hey or versitygw" >&2
        exit 2
        ;;
    esac
done
