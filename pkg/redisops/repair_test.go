package redisops_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/invariants"
	"redis-operator/test/redistest"
)

// keysInSlot returns n keys that hash to slot.
func keysInSlot(slot, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if k := "k" + strconv.Itoa(i); topology.KeySlot(k) == slot {
			out = append(out, k)
		}
	}
	return out
}

func selfID(t *testing.T, ctx context.Context, admin *redisops.Admin, addr string) string {
	view := admin.View(ctx, []string{addr})
	self, ok := view.Nodes[addr].Self()
	require.True(t, ok)
	return self.ID
}

// halfMigrated leaves slot half moved from the first master to the second, as a crash in the
// middle of a migration would, and returns the keys written.
func halfMigrated(t *testing.T, ctx context.Context, admin *redisops.Admin, servers []*redistest.Server, slot int) []string {
	source, target := servers[0].Addr, servers[1].Addr
	keys := keysInSlot(slot, 300)
	for _, k := range keys {
		require.NoError(t, admin.Client(source).Set(ctx, k, "v-"+k, 0).Err())
	}
	require.NoError(t, admin.SetSlot(ctx, target, slot, "IMPORTING", selfID(t, ctx, admin, source)))
	require.NoError(t, admin.SetSlot(ctx, source, slot, "MIGRATING", selfID(t, ctx, admin, target)))
	migrateKeys(t, ctx, admin, servers[0], servers[1], keys[:120])
	return keys
}

// formedCluster starts 3 masters with a replica each and a context bounding the test.
func formedCluster(t *testing.T) (*redisops.Admin, []*redistest.Server, context.Context) {
	return newCluster(t, 6, 3)
}

// newCluster starts n servers formed into a cluster of masters, with a context bounding the test.
func newCluster(t *testing.T, n, masters int) (*redisops.Admin, []*redistest.Server, context.Context) {
	servers := redistest.StartServers(t, n, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, masters)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return admin, servers, ctx
}

func checkAllKeys(t *testing.T, ctx context.Context, servers []*redistest.Server, keys []string) {
	client := redistest.ClusterClient(t, servers)
	for _, k := range keys {
		v, err := client.Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, "v-"+k, v)
	}
}

func TestRepairFinishesAMigrationBothSidesKnow(t *testing.T) {
	admin, servers, ctx := formedCluster(t)
	const slot = 100
	keys := halfMigrated(t, ctx, admin, servers, slot)

	view := admin.View(ctx, redistest.Addrs(servers))
	what, err := admin.RepairOpenSlot(ctx, view, slot, servers[0].Addr)
	require.NoError(t, err)
	require.True(t, what.Finished, "finished moving: %+v", what)
	require.Equal(t, 100, what.Slot)

	redistest.WaitFor(t, ctx, "every node to agree", func() bool {
		return invariants.Check(ctx, admin, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1}) == nil
	})
	n, err := admin.CountKeysInSlot(ctx, servers[1].Addr, slot)
	require.NoError(t, err)
	require.EqualValues(t, len(keys), n, "every key is on the new owner")
	checkAllKeys(t, ctx, servers, keys)
}

func TestRepairRollsBackAnImportWithoutMigration(t *testing.T) {
	admin, servers, ctx := formedCluster(t)
	const slot = 200
	keys := halfMigrated(t, ctx, admin, servers, slot)
	// The source forgot its side (say it restarted): only the target still imports.
	require.NoError(t, admin.SetSlot(ctx, servers[0].Addr, slot, "STABLE", ""))

	view := admin.View(ctx, redistest.Addrs(servers))
	what, err := admin.RepairOpenSlot(ctx, view, slot, servers[0].Addr)
	require.NoError(t, err)
	require.False(t, what.Finished, "rolled back: %+v", what)
	require.Equal(t, 200, what.Slot)

	redistest.WaitFor(t, ctx, "every node to agree", func() bool {
		return invariants.Check(ctx, admin, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1}) == nil
	})
	n, err := admin.CountKeysInSlot(ctx, servers[0].Addr, slot)
	require.NoError(t, err)
	require.EqualValues(t, len(keys), n, "every key is back on the owner")
	checkAllKeys(t, ctx, servers, keys)
}

func TestRepairReturnsImportedKeysAfterTheSourceFailedOver(t *testing.T) {
	// Server 0 has two replicas (3 and 6), so after it dies every master still has one.
	servers := redistest.StartServers(t, 7, redistest.Options{NodeTimeout: 1000})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	const slot = 300
	keys := halfMigrated(t, ctx, admin, servers, slot)
	deadID := selfID(t, ctx, admin, servers[0].Addr)

	servers[0].Kill()
	alive := redistest.Addrs(servers[1:])
	redistest.WaitFor(t, ctx, "a replica of the dead source to own its slots", func() bool {
		_ = admin.Failover(ctx, servers[3].Addr, topology.FailoverForce)
		view := admin.View(ctx, []string{servers[3].Addr})
		self, _ := view.Nodes[servers[3].Addr].Self()
		return self.Master() && len(self.Slots) > 0
	})
	newOwner := selfID(t, ctx, admin, servers[3].Addr)
	redistest.WaitFor(t, ctx, "every node to know the new master", func() bool {
		for _, st := range admin.View(ctx, alive).Nodes {
			if peer, ok := st.Peer(newOwner); !ok || !peer.Master() {
				return false
			}
		}
		return true
	})
	view := admin.View(ctx, alive)
	require.Equal(t, deadID, view.Nodes[servers[1].Addr].Owner(slot),
		"the importing node ignores the new owner's claim")

	what, err := admin.RepairOpenSlot(ctx, view, slot, servers[3].Addr)
	require.NoError(t, err)
	require.False(t, what.Finished, "rolled back: %+v", what)
	require.Equal(t, 300, what.Slot)
	require.Equal(t, 120, what.Keys, "keys returned")
	for _, addr := range alive {
		require.NoError(t, admin.Forget(ctx, addr, deadID))
	}
	redistest.WaitFor(t, ctx, "every node to agree", func() bool {
		return invariants.Check(ctx, admin, alive, invariants.Expect{Masters: 3, ReplicasPerMaster: 1}) == nil
	})
	n, err := admin.CountKeysInSlot(ctx, servers[3].Addr, slot)
	require.NoError(t, err)
	require.EqualValues(t, len(keys), n, "every key is on the new owner")
	require.Equal(t, newOwner, admin.View(ctx, alive).Nodes[servers[1].Addr].Owner(slot))
	checkAllKeys(t, ctx, servers[1:], keys)
}

func TestClaimSlotsOverridesAStaleOwner(t *testing.T) {
	admin, servers, ctx := formedCluster(t)
	lost := topology.SlotRange{Start: 0, End: 99}
	// The first master gives the slots up; the others' tables keep naming it, as they keep a
	// dead master's slots after it is forgotten and a replacement joined.
	require.NoError(t, admin.Client(servers[0].Addr).Do(ctx, "CLUSTER", "DELSLOTSRANGE", lost.Start, lost.End).Err())
	owner := selfID(t, ctx, admin, servers[0].Addr)
	// Gossip carries the first master's slots, without 0-99 now, to every node: each of its
	// messages holds its slots and, from here on, a new announced hostname, so a node naming it
	// by that hostname has had its new slots.
	require.NoError(t, admin.Client(servers[0].Addr).ConfigSet(ctx, "cluster-announce-hostname", "gave-up-0-99").Err())
	redistest.WaitNoError(t, ctx, "every node to have heard from the first master since", func() error {
		for addr, st := range admin.View(ctx, redistest.Addrs(servers[1:])).Nodes {
			if peer, ok := st.Peer(owner); !ok || peer.Hostname != "gave-up-0-99" {
				return fmt.Errorf("%s names the first master %+v", addr, peer)
			}
		}
		return nil
	})
	receiver := admin.View(ctx, []string{servers[1].Addr}).Nodes[servers[1].Addr]
	require.Equal(t, owner, receiver.Owner(0), "the receiver's table is stale")

	require.NoError(t, admin.ClaimSlots(ctx, receiver, []topology.SlotRange{lost}))
	claimer := selfID(t, ctx, admin, servers[1].Addr)
	redistest.WaitFor(t, ctx, "every node to name the claimer", func() bool {
		view := admin.View(ctx, redistest.Addrs(servers))
		for _, st := range view.Nodes {
			if st.Err != nil || st.Owner(0) != claimer || st.Owner(99) != claimer {
				return false
			}
		}
		return invariants.Check(ctx, admin, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1}) == nil
	})
}

// A rollback never writes an older copy over a newer one: keys moved to the target, then written
// anew on the owner after it gave up the move, keep the owner's values when the target's copies
// come back.
func TestRollbackKeepsTheOwnersNewerCopies(t *testing.T) {
	admin, servers, ctx := formedCluster(t)
	const slot = 400
	keys := halfMigrated(t, ctx, admin, servers, slot)
	// The owner gave up the move while the target was away, and clients wrote the moved keys
	// anew on it.
	require.NoError(t, admin.SetSlot(ctx, servers[0].Addr, slot, "STABLE", ""))
	for _, k := range keys[:120] {
		require.NoError(t, admin.Client(servers[0].Addr).Set(ctx, k, "new-"+k, 0).Err())
	}

	view := admin.View(ctx, redistest.Addrs(servers))
	what, err := admin.RepairOpenSlot(ctx, view, slot, servers[0].Addr)
	require.NoError(t, err)
	require.False(t, what.Finished, "rolled back: %+v", what)
	require.Equal(t, 400, what.Slot)
	redistest.WaitFor(t, ctx, "every node to agree", func() bool {
		return invariants.Check(ctx, admin, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1}) == nil
	})
	client := redistest.ClusterClient(t, servers)
	for i, k := range keys {
		want := "v-" + k
		if i < 120 {
			want = "new-" + k
		}
		v, err := client.Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, want, v, "key %s", k)
	}
	n, err := admin.CountKeysInSlot(ctx, servers[1].Addr, slot)
	require.NoError(t, err)
	require.Zero(t, n, "no stale copy is left on the former target")
}

// A move its target has no room for (noeviction at maxmemory refuses the keys) is rolled back
// whole by the repair, instead of being finished again and again.
func TestRepairRollsBackAMoveTheTargetHasNoRoomFor(t *testing.T) {
	admin, servers, ctx := newCluster(t, 2, 2)
	source, target := servers[0], servers[1]
	const slot = 100
	value := strings.Repeat("x", 4096)
	keys := keysInSlot(slot, 2000)
	_, err := admin.Client(source.Addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Set(ctx, k, value, 0)
		}
		return nil
	})
	require.NoError(t, err)
	used := admin.View(ctx, []string{target.Addr}).Nodes[target.Addr].UsedBytes()
	require.NoError(t, admin.Client(target.Addr).ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+(2<<20), 10)).Err())

	view := admin.View(ctx, redistest.Addrs(servers))
	_, err = admin.MoveSlots(ctx, redisops.Endpoint{Addr: source.Addr, ID: selfID(t, ctx, admin, source.Addr)},
		redisops.Endpoint{Addr: target.Addr, ID: selfID(t, ctx, admin, target.Addr)}, []int{slot}, view.MasterAddrs(), nil)
	require.True(t, redisops.IsOOM(err), "the target refuses the keys: %v", err)

	what, err := admin.RepairOpenSlot(ctx, admin.View(ctx, redistest.Addrs(servers)), slot, source.Addr)
	require.NoError(t, err)
	require.False(t, what.Finished, "rolled back: %+v", what)
	require.Equal(t, 100, what.Slot)
	require.True(t, what.OutOfMemory, "the target was out of memory")
	view = admin.View(ctx, redistest.Addrs(servers))
	require.Empty(t, view.OpenSlots())
	owners, _ := view.SlotOwners()
	require.Equal(t, selfID(t, ctx, admin, source.Addr), owners[slot])
	n, err := admin.CountKeysInSlot(ctx, target.Addr, slot)
	require.NoError(t, err)
	require.Zero(t, n)
	for _, k := range keys {
		v, err := admin.Client(source.Addr).Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, value, v)
	}
}
