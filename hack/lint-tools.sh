#!/usr/bin/env bash
# Builds staticcheck into bin/tools from the Go module proxy, pinned in hack/tools/staticcheck/go.mod,
# for make lint, through the tool cache of lib/build-tool.sh: built once per pin per machine.
set -euo pipefail

# shellcheck source=lib/build-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build-tool.sh"

build staticcheck honnef.co/go/tools/cmd/staticcheck ""
