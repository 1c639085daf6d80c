package redisops_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/invariants"
	"redis-operator/test/redistest"
)

// TestMoveSlotsScalesOutWithoutLosingKeys adds a fourth master to a 3x0 cluster with keys
// and moves it its share as PlanRebalance plans it.
func TestMoveSlotsScalesOutWithoutLosingKeys(t *testing.T) {
	servers := redistest.StartServers(t, 4, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers[:3], 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := redistest.ClusterClient(t, servers[:3])
	var keys []string
	for slot := 0; slot < topology.SlotCount; slot += 7 {
		keys = append(keys, keysInSlot(slot, 2)...)
	}
	for _, k := range keys {
		require.NoError(t, client.Set(ctx, k, "v-"+k, 0).Err())
	}

	newcomer := servers[3]
	require.NoError(t, admin.Meet(ctx, newcomer.Addr, "127.0.0.1", servers[0].Port, servers[0].Port+10000))
	redistest.WaitFor(t, ctx, "the newcomer to join", func() bool {
		view := admin.View(ctx, redistest.Addrs(servers))
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

	view := admin.View(ctx, redistest.Addrs(servers))
	owners, _ := view.SlotOwners()
	byID := view.ByID()
	var masters []string
	for id := range byID {
		masters = append(masters, id)
	}
	moves, err := topology.PlanRebalance(owners, masters)
	require.NoError(t, err)
	require.Len(t, moves, 4096)

	for pair, ranges := range topology.MoveRanges(moves) {
		var slots []int
		for _, r := range ranges {
			for s := r.Start; s <= r.End; s++ {
				slots = append(slots, s)
			}
		}
		source, target := byID[pair[0]], byID[pair[1]]
		done, err := admin.MoveSlots(ctx,
			redisops.Endpoint{Addr: source.Addr, ID: pair[0]}, redisops.Endpoint{Addr: target.Addr, ID: pair[1]},
			slots, redistest.Addrs(servers), nil)
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

// TestMigrateSlotsKeysMovesFullSlotsAndBigKeys moves slots with more keys than one listing
// returns, a key over the byte cap of a batch and slots with a few keys, all in one call.
func TestMigrateSlotsKeysMovesFullSlotsAndBigKeys(t *testing.T) {
	admin, servers, ctx := newCluster(t, 2, 2)
	source, target := servers[0], servers[1]
	slots := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	var keys []string
	keys = append(keys, keysInSlot(10, 2500)...)
	for _, s := range slots[1:] {
		keys = append(keys, keysInSlot(s, 3)...)
	}
	pipe := admin.Client(source.Addr).Pipeline()
	for _, k := range keys {
		pipe.Set(ctx, k, "v-"+k, 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	big := keysInSlot(12, 4)[3]
	require.NoError(t, admin.Client(source.Addr).Set(ctx, big, strings.Repeat("x", 9<<20), 0).Err())

	sourceID, targetID := selfID(t, ctx, admin, source.Addr), selfID(t, ctx, admin, target.Addr)
	require.NoError(t, admin.SetSlots(ctx, target.Addr, slots, "IMPORTING", sourceID))
	require.NoError(t, admin.SetSlots(ctx, source.Addr, slots, "MIGRATING", targetID))
	moved, err := admin.MigrateSlotsKeys(ctx, source.Addr, target.Addr, slots, true)
	require.NoError(t, err)
	require.Equal(t, len(keys)+1, moved)
	for _, s := range slots {
		n, err := admin.CountKeysInSlot(ctx, source.Addr, s)
		require.NoError(t, err)
		require.Zero(t, n, "slot %d left keys on the source", s)
	}
	// The target serves an importing slot only after ASKING, on the same connection.
	pipe = admin.Client(target.Addr).Pipeline()
	pipe.Do(ctx, "ASKING")
	size := pipe.StrLen(ctx, big)
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 9<<20, size.Val())
}

// TestMoveSlotsStopsBetweenBatches cancels a move after its first batch: the move stops there with
// every slot either handed over or untouched, none left open.
func TestMoveSlotsStopsBetweenBatches(t *testing.T) {
	admin, servers, ctx := newCluster(t, 2, 2)
	view := admin.View(ctx, redistest.Addrs(servers))
	owners, _ := view.SlotOwners()
	byID := view.ByID()
	source, target := owners[0], owners[topology.SlotCount-1]
	var slots []int
	for s := 0; s < 600; s++ {
		slots = append(slots, s)
	}

	moveCtx, stop := context.WithCancel(ctx)
	done, err := admin.MoveSlots(moveCtx, redisops.Endpoint{Addr: byID[source].Addr, ID: source},
		redisops.Endpoint{Addr: byID[target].Addr, ID: target}, slots, redistest.Addrs(servers),
		func(int) { stop() })
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, slots[:256], done, "the first batch is handed over, nothing after it")

	view = admin.View(ctx, redistest.Addrs(servers))
	require.Empty(t, view.OpenSlots())
	owners, _ = view.SlotOwners()
	require.Equal(t, target, owners[255])
	require.Equal(t, source, owners[256])
}
