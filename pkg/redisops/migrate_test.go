package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/invariants"
	"redis-operator/test/redistest"
)

// TestClassicMigratorScalesOutWithoutLosingKeys adds a fourth master to a 3x0 cluster with keys
// and moves it its share as PlanRebalance plans it.
func TestClassicMigratorScalesOutWithoutLosingKeys(t *testing.T) {
	servers := redistest.StartServers(t, 4, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers[:3], 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := redistest.ClusterClient(t, servers[:3])
	var keys []string
	for slot := 0; slot < redisops.SlotCount; slot += 7 {
		keys = append(keys, keysInSlot(slot, 2)...)
	}
	for _, k := range keys {
		require.NoError(t, client.Set(ctx, k, "v-"+k, 0).Err())
	}

	newcomer := servers[3]
	require.NoError(t, admin.Meet(ctx, newcomer.Addr, "127.0.0.1", servers[0].Port, servers[0].Port+10000))
	redistest.WaitFor(t, ctx, "the newcomer to join", func() bool {
		view := redisops.FetchView(ctx, admin, redistest.Addrs(servers))
		for _, s := range view.Nodes {
			usable := 0
			for _, n := range s.Table {
				if n.Usable() {
					usable++
				}
			}
			if usable != 4 || !s.StateOK() {
				return false
			}
		}
		return true
	})

	view := redisops.FetchView(ctx, admin, redistest.Addrs(servers))
	owners, _ := view.SlotOwners()
	byID := view.ByID()
	var masters []string
	for id := range byID {
		masters = append(masters, id)
	}
	moves, err := redisops.PlanRebalance(owners, masters)
	require.NoError(t, err)
	require.Len(t, moves, 4096)

	migrator := &redisops.ClassicMigrator{Admin: admin, BatchSlots: 128}
	for pair, ranges := range redisops.MoveRanges(moves) {
		var slots []int
		for _, r := range ranges {
			for s := r.Start; s <= r.End; s++ {
				slots = append(slots, s)
			}
		}
		source, target := byID[pair[0]], byID[pair[1]]
		done, err := migrator.MoveSlots(ctx,
			redisops.Endpoint{Addr: source.Addr, ID: pair[0]}, redisops.Endpoint{Addr: target.Addr, ID: pair[1]},
			slots, redistest.Addrs(servers))
		require.NoError(t, err)
		require.Equal(t, slots, done)
	}
	redistest.WaitFor(t, ctx, "every node to agree", func() bool {
		return invariants.Check(ctx, admin, redistest.Addrs(servers), invariants.Expect{Masters: 4}) == nil
	})
	for _, k := range keys {
		v, err := client.Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, "v-"+k, v)
	}
}
