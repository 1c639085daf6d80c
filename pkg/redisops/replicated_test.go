package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
)

// A slot is handed over to a target only once the target's replica has its
// keys, so that a key moved to it never exists once. A stalled replica stops the move with the
// slot still the source's; once it resumes, the repair finishes the move, and the replica holds
// every key.
func TestMoveHandsOverOnlyWhatTheTargetsReplicaHas(t *testing.T) {
	admin, servers, ctx := newCluster(t, 4, 2) // servers 2 and 3 replicate 0 and 1
	source, target, replica := servers[0], servers[1], servers[3]
	const slot = 10
	keys := keysInSlot(slot, 200)
	for _, k := range keys {
		require.NoError(t, admin.Client(source.Addr).Set(ctx, k, "v-"+k, 0).Err())
	}
	defer redisops.SetReplicaCatchUp(time.Second)()

	replica.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			replica.Thaw()
		}
	}()
	view := admin.View(ctx, redistest.Addrs(servers[:2]))
	sourceID, targetID := selfID(t, ctx, admin, source.Addr), selfID(t, ctx, admin, target.Addr)
	moved, err := admin.MoveSlots(ctx, redisops.Endpoint{Addr: source.Addr, ID: sourceID},
		redisops.Endpoint{Addr: target.Addr, ID: targetID, Replica: replica.Addr}, []int{slot}, view.MasterAddrs(), nil)
	require.Error(t, err, "a slot was handed over while the target's replica was stalled")
	require.Empty(t, moved)
	owners, _ := admin.View(ctx, []string{source.Addr}).SlotOwners()
	require.Equal(t, sourceID, owners[slot], "the source still owns the slot")

	replica.Thaw()
	thawed = true
	redistest.WaitFor(t, ctx, "the replica to answer with its link up", func() bool {
		return admin.View(ctx, []string{replica.Addr}).Nodes[replica.Addr].LinkUp()
	})
	what, err := admin.RepairOpenSlot(ctx, admin.View(ctx, redistest.Addrs(servers)), slot, source.Addr)
	require.NoError(t, err)
	require.True(t, what.Finished, "the move is finished: %+v", what)
	n, err := admin.CountKeysInSlot(ctx, replica.Addr, slot)
	require.NoError(t, err)
	require.EqualValues(t, len(keys), n, "the target's replica holds every key of the slot handed over")
	checkAllKeys(t, ctx, servers, keys)
}

// The keys a target received are not lost with it. Its replica takes its place
// (no Redis failover here: the node timeout is long) and the keys come back from it.
func TestRollbackTakesKeysBackFromALostTargetsReplica(t *testing.T) {
	servers := redistest.StartServers(t, 4, redistest.Options{NodeTimeout: 60000})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 2) // servers 2 and 3 replicate 0 and 1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	owner, target, replica := servers[0], servers[1], servers[3]
	const slot = 400
	keys := halfMigrated(t, ctx, admin, servers, slot) // 120 keys reach the target
	redistest.WaitFor(t, ctx, "the target's replica to have the keys", func() bool {
		n, err := admin.CountKeysInSlot(ctx, replica.Addr, slot)
		return err == nil && n == 120
	})
	target.Kill()

	what, err := admin.RepairOpenSlot(ctx, admin.View(ctx, redistest.Addrs(servers)), slot, owner.Addr)
	require.NoError(t, err)
	require.False(t, what.Finished, "rolled back: %+v", what)
	require.Empty(t, what.LostWith, "nothing is lost with the target: %+v", what)
	require.Equal(t, 120, what.Keys)
	for _, k := range keys {
		v, err := admin.Client(owner.Addr).Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, "v-"+k, v)
	}
}
