//go:build tools

// Package tools pins the Alertmanager the end-to-end autoscaling test runs.
package tools

import (
	_ "github.com/prometheus/alertmanager/cmd/alertmanager"
)
