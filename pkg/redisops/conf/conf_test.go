package conf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileQuotesEveryValueAsOneArgument(t *testing.T) {
	file := File(map[string]string{"maxmemory": "1gb", "client-output-buffer-limit": "normal 0 0 0"}, `pa"ss\word`, "", nil)
	require.Equal(t, "client-output-buffer-limit \"normal 0 0 0\"\nmaxmemory \"1gb\"\n"+
		"requirepass \"pa\\\"ss\\\\word\"\nmasterauth \"pa\\\"ss\\\\word\"\n", file)
	require.Equal(t, "maxmemory \"0\"\n", File(map[string]string{"maxmemory": "0"}, "", "", nil), "no password, no user: no auth lines")
}

func TestFileGivesTheExporterUserOnlyItsPasswordHash(t *testing.T) {
	file := File(nil, "", "monitor-secret", nil)
	require.True(t, strings.HasPrefix(file, "user "+MonitorUser+" on #"), file)
	require.NotContains(t, file, "monitor-secret")
	require.Contains(t, file, "-@all")
}

func TestFileGivesUsersTheirRulesAndOnlyTheirPasswordHash(t *testing.T) {
	users := []User{
		{Name: "app", Rules: []string{"~app:*", "+@read", "(~cache:* +get)"}, PasswordSHA256: PasswordSHA256("app-secret")},
		{Name: "off-user", Rules: []string{"off"}, PasswordSHA256: PasswordSHA256("x")},
	}
	file := File(nil, "", "", users)
	require.Equal(t, "user app reset on #"+PasswordSHA256("app-secret")+` ~app:* +@read "(~cache:* +get)"`+"\n"+
		"user off-user reset on #"+PasswordSHA256("x")+" off\n", file, "a selector is quoted as one argument; a rule after on wins")
	require.NotContains(t, file, "app-secret")
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

	tls := &TLS{CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", CAFile: "/tls/ca.crt", AuthClients: "optional"}
	args = Server{Include: "/etc/r/redis.conf", Port: 7003, BusPort: 17003, Address: "$(POD_IP)", Dir: "/data", TLS: tls}.Args()
	require.Equal(t, "0", value("--port"), "a TLS node has no plain port")
	require.Equal(t, "7003", value("--tls-port"))
	require.Equal(t, "yes", value("--tls-cluster"))
	require.Equal(t, "yes", value("--tls-replication"))
	require.Equal(t, "/tls/tls.crt", value("--tls-cert-file"))
	require.Equal(t, "/tls/tls.key", value("--tls-key-file"))
	require.Equal(t, "/tls/ca.crt", value("--tls-ca-cert-file"))
	require.Equal(t, "optional", value("--tls-auth-clients"))
	require.Equal(t, "17003", value("--cluster-port"))
}

// Runs takes a value for what Redis reads back of it (seen on Redis 7.0), and anything else
// for a drift.
func TestRunsReadsValuesAsRedisReadsThemBack(t *testing.T) {
	for _, c := range []struct {
		directive, want, got string
		runs                 bool
	}{
		{"maxmemory-policy", "allkeys-lru", "allkeys-lru", true},
		{"maxmemory-policy", "ALLKEYS-LRU", "allkeys-lru", true},
		{"maxmemory-policy", "noeviction", "allkeys-lru", false},
		{"hz", "20", "15", false},
		{"repl-backlog-size", "1mb", "1048576", true},
		{"notify-keyspace-events", "KEA", "AKE", true},
		{"notify-keyspace-events", "Ex", "xE", true},
		{"notify-keyspace-events", "Kg$lshzxetd", "AK", true},
		{"notify-keyspace-events", "", "AK", false},
		{"notify-keyspace-events", "Ex", "", false},
		{"client-output-buffer-limit", "normal 0 0 0", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", true},
	} {
		require.Equal(t, c.runs, Runs(c.directive, c.want, c.got), "%s %q read back as %q", c.directive, c.want, c.got)
	}
}

func TestWantedKeepsTheDefaultOfADirectiveSetByItsOldName(t *testing.T) {
	wanted := Wanted(map[string]string{"lua-time-limit": "10000", "hz": "20"})
	require.Equal(t, "20", wanted["hz"])
	require.Equal(t, "noeviction", wanted["maxmemory-policy"])
	require.NotContains(t, wanted, "busy-reply-threshold")
}
