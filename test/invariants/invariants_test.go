package invariants

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/redistest"
)

// healthyCluster starts 3 masters with one replica each.
func healthyCluster(t *testing.T) (*redisops.Admin, []*redistest.Server) {
	t.Helper()
	servers := redistest.StartServers(t, 6, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 3)
	return admin, servers
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func nodeID(t *testing.T, ctx context.Context, admin *redisops.Admin, addr string) string {
	t.Helper()
	view := admin.View(ctx, []string{addr})
	self, ok := view.Nodes[addr].Self()
	require.True(t, ok)
	return self.ID
}

var want = Expect{Masters: 3, ReplicasPerMaster: 1}

func TestHealthyClusterPasses(t *testing.T) {
	admin, servers := healthyCluster(t)
	ctx := testContext(t)
	client := admin.Client(servers[0].Addr)
	// A key in a slot node 0 owns (slots 0-5461) is no orphan.
	require.NoError(t, client.Set(ctx, keyInSlot(17), "v", 0).Err())
	require.NoError(t, Check(ctx, admin, redistest.Addrs(servers), want))
}

func TestOpenSlotFails(t *testing.T) {
	admin, servers := healthyCluster(t)
	ctx := testContext(t)
	source, target := servers[0].Addr, servers[1].Addr
	require.NoError(t, admin.SetSlot(ctx, target, 100, "IMPORTING", nodeID(t, ctx, admin, source)))
	require.NoError(t, admin.SetSlot(ctx, source, 100, "MIGRATING", nodeID(t, ctx, admin, target)))

	err := Check(ctx, admin, redistest.Addrs(servers), want)
	require.ErrorContains(t, err, "slot 100 left migrating to")
	require.ErrorContains(t, err, "slot 100 left importing from")
	require.ErrorContains(t, err, "redis-cli --cluster check")
}

func TestUnownedSlotFails(t *testing.T) {
	admin, servers := healthyCluster(t)
	ctx := testContext(t)
	require.NoError(t, admin.Client(servers[0].Addr).Do(ctx, "CLUSTER", "DELSLOTS", 7).Err())

	err := Check(ctx, admin, redistest.Addrs(servers), want)
	require.ErrorContains(t, err, "slots owned by no master: 7")
}

func TestMissingReplicaFails(t *testing.T) {
	servers := redistest.StartServers(t, 5, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 3)
	ctx := testContext(t)

	err := Check(ctx, admin, redistest.Addrs(servers), want)
	require.ErrorContains(t, err, "has 0 linked replicas, want 1")
}

func TestTooFewMastersFails(t *testing.T) {
	admin, servers := healthyCluster(t)
	ctx := testContext(t)
	err := Check(ctx, admin, redistest.Addrs(servers), Expect{Masters: 4, ReplicasPerMaster: 1})
	require.ErrorContains(t, err, "3 masters, want 4")
}

func TestOrphanKeyFails(t *testing.T) {
	admin, servers := healthyCluster(t)
	ctx := testContext(t)
	const slot = 12000 // owned by the third master
	owner, stranger := servers[2].Addr, servers[0].Addr
	require.NoError(t, admin.SetSlot(ctx, stranger, slot, "IMPORTING", nodeID(t, ctx, admin, owner)))
	// ASKING lets the importing node accept a write for the slot on this one connection.
	conn := admin.Client(stranger).Conn()
	defer conn.Close()
	require.NoError(t, conn.Do(ctx, "ASKING").Err())
	key := keyInSlot(slot)
	require.NoError(t, conn.Set(ctx, key, "orphan", 0).Err())
	require.NoError(t, admin.SetSlot(ctx, stranger, slot, "STABLE", ""))

	err := Check(ctx, admin, redistest.Addrs(servers), want)
	require.ErrorContains(t, err, "holds keys of slots it does not own: 12000")
}

func TestUnreachableNodeFails(t *testing.T) {
	admin, servers := healthyCluster(t)
	ctx := testContext(t)
	servers[5].Kill()
	err := Check(ctx, admin, redistest.Addrs(servers), want)
	require.ErrorContains(t, err, "unreachable")
}

// keyInSlot finds a key whose hash slot is slot.
func keyInSlot(slot int) string {
	for i := 0; ; i++ {
		key := "key-" + strconv.Itoa(i)
		if topology.KeySlot(key) == slot {
			return key
		}
	}
}

// A node that has not yet heard that a node became a replica still lists it as a master.
func TestReplicaUnlistedByANodeFails(t *testing.T) {
	line := func(id, addr, masterID string, self bool) topology.NodeView {
		flags := map[string]bool{"master": masterID == "", "slave": masterID != "", "myself": self}
		return topology.NodeView{ID: id, Addr: addr, Flags: flags, MasterID: masterID}
	}
	view := func(otherSees ...topology.NodeView) *topology.ClusterView {
		return &topology.ClusterView{Nodes: map[string]*topology.NodeState{
			"m": {Addr: "m", Table: []topology.NodeView{line("m0", "m", "", true), line("r0", "r", "m0", false), line("m1", "o", "", false)}},
			"r": {Addr: "r", Table: []topology.NodeView{line("r0", "r", "m0", true), line("m0", "m", "", false), line("m1", "o", "", false)}},
			"o": {Addr: "o", Table: append([]topology.NodeView{line("m1", "o", "", true), line("m0", "m", "", false)}, otherSees...)},
		}}
	}
	check := func(v *topology.ClusterView) []string {
		var problems []string
		checkReplicasListed(v, func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) })
		return problems
	}
	require.Empty(t, check(view(line("r0", "r", "m0", false))))
	require.Equal(t, []string{"node o lists r0 (r) as a master, not as a replica of m0"}, check(view(line("r0", "r", "", false))))
	require.Equal(t, []string{"node o does not list replica r0 (r)"}, check(view()))
}
