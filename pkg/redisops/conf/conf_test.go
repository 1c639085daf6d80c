package conf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileQuotesEveryValueAsOneArgument(t *testing.T) {
	file := File(map[string]string{"maxmemory": "1gb", "client-output-buffer-limit": "normal 0 0 0"}, `pa"ss\word`, "")
	require.Equal(t, "client-output-buffer-limit \"normal 0 0 0\"\nmaxmemory \"1gb\"\n"+
		"requirepass \"pa\\\"ss\\\\word\"\nmasterauth \"pa\\\"ss\\\\word\"\n", file)
	require.Equal(t, "maxmemory \"0\"\n", File(map[string]string{"maxmemory": "0"}, "", ""), "no password, no user: no auth lines")
}

func TestFileGivesTheExporterUserOnlyItsPasswordHash(t *testing.T) {
	file := File(nil, "", "monitor-secret")
	require.True(t, strings.HasPrefix(file, "user "+MonitorUser+" on #"), file)
	require.NotContains(t, file, "monitor-secret")
	require.Contains(t, file, "-@all")
}

func TestServerArgs(t *testing.T) {
	args := Server{Include: "/etc/r/redis.conf", Port: 7003, BusPort: 17003, Address: "$(POD_IP)", Dir: "/data"}.Args()
	require.Equal(t, []string{"--include", "/etc/r/redis.conf"}, args[:2], "included first, so that the arguments after it win")
	value := func(flag string) string {
		for i, a := range args {
			if a == flag {
				return args[i+1]
			}
		}
		t.Fatalf("no %s in %v", flag, args)
		return ""
	}
	require.Equal(t, "7003", value("--port"))
	require.Equal(t, "17003", value("--cluster-port"))
	require.Equal(t, "nodes-7003.conf", value("--cluster-config-file"))
	require.Equal(t, "$(POD_IP)", value("--cluster-announce-ip"))
	require.Equal(t, "yes", value("--appendonly"))
}
