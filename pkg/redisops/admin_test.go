package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
)

func TestSetConfigEpochOnlyOnALoneNodeWithoutOne(t *testing.T) {
	servers := redistest.StartServers(t, 2, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	epochOf := func(addr string) int64 {
		self, ok := admin.View(ctx, []string{addr}).Nodes[addr].Self()
		require.True(t, ok)
		return self.Epoch
	}

	require.Zero(t, epochOf(servers[0].Addr), "a new node has no config epoch")
	require.NoError(t, admin.SetConfigEpoch(ctx, servers[0].Addr, 5))
	require.EqualValues(t, 5, epochOf(servers[0].Addr))
	require.Error(t, admin.SetConfigEpoch(ctx, servers[0].Addr, 6), "a node that has an epoch keeps it")

	require.NoError(t, admin.Meet(ctx, servers[1].Addr, "127.0.0.1", servers[0].Port, servers[0].Port+10000))
	redistest.WaitFor(t, ctx, "the nodes to meet", func() bool {
		return len(admin.View(ctx, []string{servers[1].Addr}).Nodes[servers[1].Addr].Table) == 2
	})
	require.Error(t, admin.SetConfigEpoch(ctx, servers[1].Addr, 7), "a node that knows another takes no epoch")
}
