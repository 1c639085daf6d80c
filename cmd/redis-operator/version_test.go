package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestVersionFlagReportsTheBuild builds the binary with a version and revision stamped in, as
// make build does, and runs --version.
func TestVersionFlagReportsTheBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "redis-operator")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7 -X main.revision=0123abc", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	line := strings.TrimSpace(string(out))
	require.True(t, strings.HasPrefix(line, "redis-operator v9.8.7 (revision 0123abc, go1."), line)
}

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	buildInfo{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26"}.register(reg)
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1)
	require.Equal(t, "redis_operator_build_info", families[0].GetName())
	labels := map[string]string{}
	for _, l := range families[0].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	require.Equal(t, map[string]string{"version": "v1.2.3", "revision": "abc", "goversion": "go1.26"}, labels)
	require.Equal(t, 1.0, families[0].GetMetric()[0].GetGauge().GetValue())
}
