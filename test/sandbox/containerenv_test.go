package sandbox

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// An image's program at an absolute path runs as the host's program of that name, under
// Debian's name where it differs; a program the host lacks is left for NotExecuted.
func TestHostProgram(t *testing.T) {
	exporter, err := exec.LookPath("prometheus-redis-exporter")
	require.NoError(t, err, "hack/sandbox-binaries.sh installs Debian's prometheus-redis-exporter")
	require.Equal(t, exporter, hostProgram("/redis_exporter"))
	server, err := exec.LookPath("redis-server")
	require.NoError(t, err)
	require.Equal(t, server, hostProgram("/usr/local/bin/redis-server"))
	require.Equal(t, "redis-server", hostProgram("redis-server"), "a name is looked up on PATH as it is")
	require.Equal(t, "/no-such-program", hostProgram("/no-such-program"))
}
