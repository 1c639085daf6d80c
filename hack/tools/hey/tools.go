//go:build tools

// Package tools pins hey, the HTTP load generator hack/bench-http.sh runs.
package tools

import (
	_ "github.com/rakyll/hey"
)
