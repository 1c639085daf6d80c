//go:build tools

// Package tools pins staticcheck, the linter make lint runs (hack/lint-tools.sh).
package tools

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
)
