package redisops_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/test/redistest"
)

// The defaults a removed setting returns to are what a node started afresh reads back, and
// ReadConfig reads them with the values a change leaves.
func TestReadConfigFindsTheDefaultsOnAFreshNode(t *testing.T) {
	addr := redistest.StartServers(t, 1, redistest.Options{})[0].Addr
	admin := redisops.NewAdmin()
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	directives := slices.Sorted(maps.Keys(conf.Defaults))
	view := admin.View(ctx, []string{addr})
	admin.ReadConfig(ctx, view, directives)
	require.Equal(t, conf.Defaults, view.Nodes[addr].Config)

	result, err := admin.SetConfig(ctx, addr, map[string]string{"maxmemory-policy": "allkeys-lru", "maxmemory": "100mb"})
	require.NoError(t, err)
	require.True(t, result.Ok(), "%+v", result)
	view = admin.View(ctx, []string{addr})
	admin.ReadConfig(ctx, view, []string{"maxmemory", "maxmemory-policy", "no-such-directive"})
	require.Equal(t, map[string]string{"maxmemory": "104857600", "maxmemory-policy": "allkeys-lru"}, view.Nodes[addr].Config,
		"an unknown directive is left out, not read as empty")
}
