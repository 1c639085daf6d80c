package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
)

func TestSetConfigSortsRedisAnswers(t *testing.T) {
	servers := redistest.StartServers(t, 1, redistest.Options{})
	addr := servers[0].Addr
	admin := redisops.NewAdmin()
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	result, err := admin.SetConfig(ctx, addr, map[string]string{
		"maxmemory":              "100mb",
		"cluster-node-timeout":   "5000",
		"lazyfree-lazy-eviction": "YES",
		"maxmemory-policy":       "ALLKEYS-LRU",
		"daemonize":              "yes",
		"dir":                    "/tmp",
		"no-such-directive":      "1",
		"hz":                     "often",
	})
	require.NoError(t, err)
	require.Equal(t, redisops.ConfigResult{
		Applied:      []string{"cluster-node-timeout", "lazyfree-lazy-eviction", "maxmemory"},
		NeedsRestart: []string{"daemonize", "dir"},
		Refused: map[string]string{
			"no-such-directive": "ERR Unknown option or number of arguments for CONFIG SET - 'no-such-directive'",
			"hz":                "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer",
		},
		// Redis takes enum values in any case and reads them back in lower case.
		Mismatch: map[string]string{"maxmemory-policy": "allkeys-lru"},
	}, result)
	require.False(t, result.Ok())

	got, err := admin.Client(addr).ConfigGet(ctx, "maxmemory").Result()
	require.NoError(t, err)
	require.Equal(t, "104857600", got["maxmemory"])

	result, err = admin.SetConfig(ctx, addr, map[string]string{"maxmemory": "1gb", "maxmemory-policy": "allkeys-lru"})
	require.NoError(t, err)
	require.True(t, result.Ok(), "%+v", result)
}

func TestSetConfigFailsOnAnUnreachableNode(t *testing.T) {
	servers := redistest.StartServers(t, 1, redistest.Options{})
	servers[0].Kill()
	admin := redisops.NewAdmin()
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := admin.SetConfig(ctx, servers[0].Addr, map[string]string{"maxmemory": "1mb"})
	require.Error(t, err)
}

func TestSameConfigValue(t *testing.T) {
	for _, c := range []struct {
		want, got string
		same      bool
	}{
		{"100mb", "104857600", true},
		{"100MB", "104857600", true},
		{"1k", "1000", true},
		{"1kb", "1024", true},
		{"2m", "2000000", true},
		{"3g", "3000000000", true},
		{"1Gb", "1073741824", true},
		{"10b", "10", true},
		{"0", "0", true},
		{"100mb", "100000000", false},
		{"1k", "1024", false},
		{"YES", "yes", true},
		{"No", "no", true},
		{"yes", "no", false},
		{"allkeys-lru", "allkeys-lru", true},
		{"ALLKEYS-LRU", "allkeys-lru", false},
		{"3600 1 300 100", "3600 1 300 100", true},
		{"10%", "10%", true},
		{"1.5mb", "1572864", false},
		{"mb", "0", false},
		{"", "", true},
		{"99999999999gb", "0", false},
	} {
		require.Equal(t, c.same, redisops.SameConfigValue(c.want, c.got), "%q read back as %q", c.want, c.got)
	}
}
