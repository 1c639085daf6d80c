package redisops_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
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
	admin, servers, ctx := quietCluster(t, 4, 4, 2) // servers 2 and 3 replicate 0 and 1
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
	requireValues(t, ctx, admin, owner.Addr, keys)
}

// A repair works from the view taken when it started. The lost target (a new master, no slots
// yet) had a replica, which took over and gave back every key it had; a sync then made it, now
// empty, a replica of another master. A later slot of the same repair must not make it take over
// again: it would take that master's slots, and its keys, while still in its first sync.
func TestRepairLeavesAReplicaThatMovedOnAlone(t *testing.T) {
	admin, servers, ctx := quietCluster(t, 6, 4, 2) // servers 2 and 3 replicate 0 and 1
	owner, target, replica := servers[0], servers[4], servers[5]
	for _, s := range servers[4:] {
		require.NoError(t, admin.Meet(ctx, owner.Addr, "127.0.0.1", s.Port, s.Port+10000))
	}
	ownerID := selfID(t, ctx, admin, owner.Addr)
	targetID := selfID(t, ctx, admin, target.Addr)
	redistest.WaitFor(t, ctx, "every node to know the new ones", func() bool {
		for _, st := range admin.View(ctx, redistest.Addrs(servers)).Nodes {
			if !st.StateOK() || len(st.Table) != len(servers) {
				return false
			}
		}
		return true
	})
	require.NoError(t, admin.Replicate(ctx, replica.Addr, targetID))

	// Slot 400 half moved to the target, slot 401 open toward it with no key sent yet.
	keys := append(keysInSlot(400, 300), keysInSlot(401, 50)...)
	for _, k := range keys {
		require.NoError(t, admin.Client(owner.Addr).Set(ctx, k, "v-"+k, 0).Err())
	}
	for _, slot := range []int{400, 401} {
		require.NoError(t, admin.SetSlot(ctx, target.Addr, slot, "IMPORTING", ownerID))
		require.NoError(t, admin.SetSlot(ctx, owner.Addr, slot, "MIGRATING", targetID))
	}
	migrateKeys(t, ctx, admin, owner, target, keys[:120])
	redistest.WaitFor(t, ctx, "the target's replica to have the keys", func() bool {
		n, err := admin.CountKeysInSlot(ctx, replica.Addr, 400)
		return err == nil && n == 120
	})
	target.Kill()
	view := admin.View(ctx, redistest.Addrs(servers))

	_, err := admin.RepairOpenSlot(ctx, view, 400, owner.Addr)
	require.NoError(t, err)
	require.NoError(t, admin.Replicate(ctx, replica.Addr, ownerID))
	_, err = admin.RepairOpenSlot(ctx, view, 401, owner.Addr)
	require.NoError(t, err)

	role, err := admin.Client(owner.Addr).Do(ctx, "ROLE").Slice()
	require.NoError(t, err)
	require.Equal(t, "master", role[0], "the owner is still the master of its slots")
	role, err = admin.Client(replica.Addr).Do(ctx, "ROLE").Slice()
	require.NoError(t, err)
	require.Equal(t, "slave", role[0], "the replica that moved on is still a replica")
	requireValues(t, ctx, admin, owner.Addr, keys)
}

// Counters that had reached a lost target come back from its replica with every increment
// clients had acknowledged. While they go back, a client must find each where it is: an INCR
// the owner answered for a counter still on the replica would start a fresh one from zero. The
// replica may already have taken over when the repair reads the cluster (a repair interrupted by
// a restart of the operator): it is then a master that holds keys of a slot it does not own.
func TestLostTargetsCountersComeBackWithEveryAcknowledgedIncrement(t *testing.T) {
	for _, tookOver := range []bool{false, true} {
		t.Run(map[bool]string{false: "replica", true: "replica took over"}[tookOver], func(t *testing.T) {
			admin, servers, ctx := quietCluster(t, 4, 4, 2) // servers 2 and 3 replicate 0 and 1
			owner, target, replica := servers[0], servers[1], servers[3]
			const slot, start = 400, 1000
			counters := keysInSlot(slot, 200)
			for _, k := range counters {
				require.NoError(t, admin.Client(owner.Addr).Set(ctx, k, start, 0).Err())
			}
			require.NoError(t, admin.SetSlot(ctx, target.Addr, slot, "IMPORTING", selfID(t, ctx, admin, owner.Addr)))
			require.NoError(t, admin.SetSlot(ctx, owner.Addr, slot, "MIGRATING", selfID(t, ctx, admin, target.Addr)))
			migrateKeys(t, ctx, admin, owner, target, counters)
			redistest.WaitFor(t, ctx, "the target's replica to have the counters", func() bool {
				n, err := admin.CountKeysInSlot(ctx, replica.Addr, slot)
				return err == nil && n == int64(len(counters))
			})
			target.Kill()
			if tookOver {
				require.NoError(t, admin.Failover(ctx, replica.Addr, topology.FailoverTakeover))
				redistest.WaitFor(t, ctx, "every node to see the replica as a master", func() bool {
					for _, st := range admin.View(ctx, redistest.Addrs(servers)).Reachable() {
						if peer, ok := st.Peer(selfID(t, ctx, admin, replica.Addr)); !ok || !peer.Master() {
							return false
						}
					}
					return true
				})
			}
			view := admin.View(ctx, redistest.Addrs(servers))

			clients := startIncrementers(ctx, redistest.ClusterClient(t, servers), counters)
			what, err := admin.RepairOpenSlot(ctx, view, slot, owner.Addr)
			redistest.WaitFor(t, ctx, "clients to increment after the repair", func() bool { return clients.total() > 400 })
			clients.halt()
			require.NoError(t, err)
			require.Empty(t, what.LostWith, "nothing is lost with the target: %+v", what)
			wrong := clients.wrong(t, ctx, admin, owner.Addr, start)
			t.Logf("%d increments acknowledged; %d keys went back", clients.total(), what.Keys)
			require.Empty(t, wrong, "counters that lost acknowledged increments")
		})
	}
}
