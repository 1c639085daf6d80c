package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/invariants"
	"redis-operator/test/redistest"
)

// TestMoveSlotsRefusesAHandOverFromASourceThatFailedOver fails the source over to its replica in
// the middle of a move, after its keys moved and before the hand-over, and leaves it a replica
// that lags: it holds no key the new master took after the failover. Handing the slots to the
// target then would bump the target's epoch over the real owner's and drop those keys. The move
// must stop with the slots open; a repair and a new plan then finish it without losing a key.
func TestMoveSlotsRefusesAHandOverFromASourceThatFailedOver(t *testing.T) {
	// 3 masters with a replica each; server 3 replicates server 0, the source. A longer node
	// timeout keeps a busy machine from flagging nodes failed.
	servers := redistest.StartServers(t, 6, redistest.Options{NodeTimeout: 5000})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	source, target, replica := servers[0], servers[1], servers[3]
	sourceID, targetID, replicaID := selfID(t, ctx, admin, source.Addr), selfID(t, ctx, admin, target.Addr),
		selfID(t, ctx, admin, replica.Addr)
	slots := []int{100, 101, 102, 103}
	var early, late []string
	for _, s := range slots {
		keys := keysInSlot(s, 40)
		early, late = append(early, keys[:20]...), append(late, keys[20:]...)
	}
	for _, k := range early {
		require.NoError(t, admin.Client(source.Addr).Set(ctx, k, "v-"+k, 0).Err())
	}

	failedOver := false
	t.Cleanup(redisops.SetBeforeHandOver(func() {
		if failedOver {
			return
		}
		failedOver = true
		var asked time.Time
		redistest.WaitFor(t, ctx, "the source to turn a linked replica of its replica", func() bool {
			view := admin.View(ctx, []string{source.Addr, replica.Addr})
			if r, _ := view.Nodes[replica.Addr].Self(); !r.Master() && time.Since(asked) > 6*time.Second {
				// A manual failover gives up after 5 s, as it may on a busy machine: ask again.
				_ = admin.Failover(ctx, replica.Addr, topology.FailoverGraceful)
				asked = time.Now()
			}
			s, _ := view.Nodes[source.Addr].Self()
			return s.MasterID == replicaID && view.Nodes[source.Addr].LinkUp() &&
				view.Nodes[replica.Addr].Owner(slots[0]) == replicaID
		})
		// The source stops catching up (a wrong masterauth keeps it from reconnecting), so it
		// never sees the keys its former replica takes now.
		require.NoError(t, admin.Client(source.Addr).ConfigSet(ctx, "masterauth", "wrong").Err())
		require.NoError(t, admin.Client(source.Addr).Do(ctx, "CLIENT", "KILL", "TYPE", "master").Err())
		redistest.WaitFor(t, ctx, "the source's link to drop", func() bool {
			return !admin.View(ctx, []string{source.Addr}).Nodes[source.Addr].LinkUp()
		})
		for _, k := range late {
			require.NoError(t, admin.Client(replica.Addr).Set(ctx, k, "v-"+k, 0).Err())
		}
		n, err := admin.CountKeysInSlot(ctx, source.Addr, slots[0])
		require.NoError(t, err)
		require.Zero(t, n, "the source lags")
	}))

	// The masters as planned, before the failover.
	planned := redistest.Addrs(servers[:3])
	done, err := admin.MoveSlots(ctx, redisops.Endpoint{Addr: source.Addr, ID: sourceID},
		redisops.Endpoint{Addr: target.Addr, ID: targetID}, slots, planned, nil)
	require.True(t, failedOver)
	assert.ErrorContains(t, err, "no longer a master")
	t.Logf("the move stopped: %v", err)
	assert.Empty(t, done)

	// The controller's next pass: the source catches up, open slots go back to their owner.
	require.NoError(t, admin.Client(source.Addr).ConfigSet(ctx, "masterauth", "").Err())
	all := redistest.Addrs(servers)
	view := admin.View(ctx, all)
	owners, _ := view.SlotOwners()
	assert.Len(t, view.OpenSlots(), len(slots), "the target still imports the slots")
	for _, open := range view.OpenSlots() {
		_, err := admin.RepairOpenSlot(ctx, view, open.Slot, view.ByID()[owners[open.Slot]].Addr)
		require.NoError(t, err)
	}
	settle(t, ctx, admin, all)
	owners, _ = admin.View(ctx, all).SlotOwners()
	var handedAway []int
	for _, s := range slots {
		if owners[s] != replicaID {
			handedAway = append(handedAway, s)
		}
	}
	assert.Empty(t, handedAway, "slots taken from their real owner")
	keys := append(append([]string{}, early...), late...)
	requireNoneLost(t, ctx, servers, keys)

	// A new plan moves the slots from their real owner.
	done, err = admin.MoveSlots(ctx, redisops.Endpoint{Addr: replica.Addr, ID: replicaID},
		redisops.Endpoint{Addr: target.Addr, ID: targetID}, slots, admin.View(ctx, all).MasterAddrs(), nil)
	require.NoError(t, err)
	require.Equal(t, slots, done)
	settle(t, ctx, admin, all)
	requireNoneLost(t, ctx, servers, keys)
}

// settle waits for a healthy cluster of 3 masters with a replica each, failing with the last
// violations seen.
func settle(t *testing.T, ctx context.Context, admin *redisops.Admin, addrs []string) {
	t.Helper()
	redistest.WaitNoError(t, ctx, "the cluster to settle", func() error {
		return invariants.Check(ctx, admin, addrs, invariants.Expect{Masters: 3, ReplicasPerMaster: 1})
	})
}

// requireNoneLost reads every key through a cluster client, counting those missing or changed.
func requireNoneLost(t *testing.T, ctx context.Context, servers []*redistest.Server, keys []string) {
	t.Helper()
	client := redistest.ClusterClient(t, servers)
	var lost []string
	for _, k := range keys {
		if v, err := client.Get(ctx, k).Result(); err != nil || v != "v-"+k {
			lost = append(lost, k)
		}
	}
	require.Zero(t, len(lost), "keys lost of %d, such as %v", len(keys), lost[:min(len(lost), 3)])
}
