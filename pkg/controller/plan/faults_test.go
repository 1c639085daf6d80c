package plan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// Planner tests for faults found in the field: each reproduces a way a plan lost keys or wedged.

// awayMaster is a 3x0 cluster whose master m0 does not answer: its peers flag it failed and
// still name it the owner of its slots.
func awayMaster() []testcluster.Node {
	split := topology.EvenSplit(3)
	away := topology.NodeView{ID: "m0", Addr: testcluster.Addr(0), Flags: map[string]bool{"master": true, "fail": true}, Slots: split[0:1]}
	return []testcluster.Node{
		{Index: 0, Host: "a", ID: "m0", Master: true, Slots: split[0:1], NoPod: true},
		{Index: 1, Host: "b", ID: "m1", Master: true, Slots: split[1:2], StateOK: true, Ghosts: []topology.NodeView{away}},
		{Index: 2, Host: "c", ID: "m2", Master: true, Slots: split[2:3], StateOK: true, Ghosts: []topology.NodeView{away}},
	}
}

// A master away longer than the node timeout, with no replica, whose data may come
// back, is neither forgotten nor robbed of its slots; the cluster waits and says so.
func TestAwayMasterWhoseDataMayReturnKeepsItsSlots(t *testing.T) {
	nodes := awayMaster()
	nodes[0].DataKept = true // its pod is restarting, or its claim outlives the pod
	o := clusterFixture(3, 0, nodes...)
	p := planOf(o)
	for _, a := range p.Actions {
		require.NotEqual(t, actForget, a.Kind, "a node whose data may return is not forgotten")
		require.NotEqual(t, actAssignedLost, a.Kind, "its slots are not given away")
	}
	requireWaiting(t, p, "m0")
	h := assessCluster(o, planCluster(o, false), nil)
	require.Contains(t, strings.Join(h.degraded, "; "), "0-5461", "Degraded names the slots")
	require.Contains(t, strings.Join(h.degraded, "; "), "rc-0", "and the node")

	t.Run("its data certainly gone: forgotten, then the slots go empty to a node", func(t *testing.T) {
		nodes := awayMaster()
		require.Equal(t, []string{"forget"}, kinds(planOf(clusterFixture(3, 0, nodes...))))
	})
}

// A node known by id at an old address (its pod moved to another host with its
// data) is met at its new one by every node that has the old.
func TestNodeAtANewAddressIsMetThere(t *testing.T) {
	nodes := testcluster.Healthy()
	moved := nodes[0].Line(false)
	moved.Addr = "10.0.0.9:10000"
	for i := 1; i < len(nodes); i++ {
		nodes[i].Strangers = []string{"m0"}
		nodes[i].Ghosts = []topology.NodeView{moved}
	}
	p := planOf(clusterFixture(3, 1, nodes...))
	require.Equal(t, []string{"meet", "meet", "meet", "meet", "meet"}, kinds(p))
	for _, a := range p.Actions {
		require.Equal(t, 0, a.Target.Index)
		require.Equal(t, testcluster.Addr(0), a.Target.Addr())
	}
}

// A shrink converges when a slot owner sits at an index being removed: its in-sync
// replica at a kept index takes over gracefully.
func TestMasterAtARemovedIndexHandsItsRoleOver(t *testing.T) {
	split := topology.EvenSplit(3)
	nodes := testcluster.Healthy()
	// A manual failover moved m0's role to index 6, now above the wanted count.
	nodes[0].Master, nodes[0].MasterID, nodes[0].Slots = false, "m6", nil
	nodes[0].LinkUp = true
	nodes[3].MasterID = "m6"
	nodes = append(nodes, testcluster.Node{Index: 6, Host: "a", ID: "m6", Master: true, Slots: split[0:1], StateOK: true})
	o := clusterFixture(3, 1, nodes...)
	o.Members[6].Extra = true
	p := planOf(o)
	require.Equal(t, []string{actFailover}, kinds(p), "%+v", p.Actions)
	require.Equal(t, testcluster.Addr(0), p.Actions[0].Addr, "the replica at a kept index takes over")
	require.Equal(t, "m6", p.Actions[0].NodeID)
	require.Equal(t, topology.FailoverGraceful, planCluster(o, false)[0].(Failover).Mode)
}

// A replica in the middle of a full sync from its master is not re-pointed, which
// would cancel the sync.
func TestSyncingReplicaIsNotRepointed(t *testing.T) {
	nodes := testcluster.Healthy()
	nodes[3].LinkUp, nodes[3].LinkDown, nodes[3].Syncing = false, 60, true
	require.Empty(t, planOf(clusterFixture(3, 1, nodes...)).Actions)

	nodes[3].Syncing = false
	require.Equal(t, []string{"replicate"}, kinds(planOf(clusterFixture(3, 1, nodes...))), "a link down and not syncing is re-pointed")
}

// When most masters are gone FORCE cannot win the vote: after a bounded wait the
// replica takes over without one.
func TestLostMajorityTakesOver(t *testing.T) {
	rc := testcluster.Cluster("rc")
	split := topology.EvenSplit(3)
	nodes := testcluster.Healthy()
	nodes[0].NoPod, nodes[1].NoPod = true, true
	silent := func(id string, slots []topology.SlotRange) topology.NodeView {
		return topology.NodeView{ID: id, Flags: map[string]bool{"master": true, "fail?": true}, Slots: slots}
	}
	present := map[int]bool{2: true, 3: true, 4: true, 5: true}
	rc.Status.Nodes = []redisv1beta1.NodeStatus{
		{Pod: "rc-0", Role: redisv1beta1.RoleMaster, NodeID: "m0", Slots: []string{"0-5461"}},
		{Pod: "rc-1", Role: redisv1beta1.RoleMaster, NodeID: "m1", Slots: []string{"5462-10922"}},
	}
	o := clusterFixture(3, 1, nodes...)
	for _, n := range o.View.Nodes {
		a, b := silent("m0", split[0:1]), silent("m1", split[1:2])
		a.Addr, b.Addr = testcluster.Addr(0), testcluster.Addr(1)
		a.PongRecv = o.Now.Add(-4 * o.NodeTimeout).UnixMilli()
		b.PongRecv = a.PongRecv
		n.Table = append(n.Table, a, b)
	}
	_, force := awaitingFailover(rc, o, present)
	require.Len(t, force, 2)
	for _, a := range force {
		require.Equal(t, topology.FailoverTakeover, a.(Failover).Mode, "two of three masters gone: no majority to vote")
	}
	for _, a := range force {
		require.NotContains(t, a.Why(), "silent for", "the same hold gives the same Event text every pass")
	}
}

// A node whose replica still follows it is not forgotten (that replica refuses: "Can't
// forget my master"); the replica is attached elsewhere first.
func TestNodeWithAFollowingReplicaIsNotForgotten(t *testing.T) {
	nodes := testcluster.Healthy()
	// r5's master m9 was a drained master at an index no longer wanted; it is gone.
	nodes[5].MasterID = "m9"
	gone := topology.NodeView{ID: "m9", Addr: testcluster.Addr(9), Flags: map[string]bool{"master": true, "fail": true}}
	for i := range nodes {
		nodes[i].Ghosts = []topology.NodeView{gone}
	}
	p := planOf(clusterFixture(3, 1, nodes...))
	require.Equal(t, []string{"replicate"}, kinds(p))
	require.Equal(t, testcluster.Addr(5), p.Actions[0].Addr)
	require.Equal(t, "m2", p.Actions[0].NodeID)
}

// Condition messages stay bounded on a large, badly split cluster.
func TestConditionMessagesAreBounded(t *testing.T) {
	var nodes []testcluster.Node
	for i := 0; i < 400; i++ {
		nodes = append(nodes, testcluster.Node{Index: i, Host: "a", ID: "n" + string(rune('a'+i%26)) + strings.Repeat("x", i%7), Master: true,
			Slots: []topology.SlotRange{{Start: i * 40, End: i*40 + 10}}})
	}
	o := clusterFixture(200, 1, nodes...)
	status := &redisv1beta1.RedisClusterStatus{}
	applyHealth(status, 1, assessCluster(o, planCluster(o, false), nil), o.Now)
	for _, c := range status.Conditions {
		require.LessOrEqual(t, len(c.Message), MaxConditionMessage, "%s: %d bytes", c.Type, len(c.Message))
	}
	ready := findCondition(status, redisv1beta1.ConditionReady)
	require.Contains(t, ready.Message, "more")
}

// A slot migrating to a target that does not answer but may come back is not rolled
// back: the keys it holds would be hidden and later overwritten. Once its data is certainly
// gone, the slot is rolled back.
func TestOpenSlotWaitsForATargetThatMayReturn(t *testing.T) {
	nodes := testcluster.Healthy()
	target := topology.NodeView{ID: "t6", Addr: testcluster.Addr(6), Flags: map[string]bool{"master": true, "fail": true}}
	nodes[0].Migrating = map[int]string{5: "t6"}
	for i := range nodes {
		nodes[i].Ghosts = []topology.NodeView{target}
	}
	away := append(nodes, testcluster.Node{Index: 6, Host: "a", ID: "t6", Master: true, NoPod: true, DataKept: true})
	o := clusterFixture(3, 1, away...)
	p := planOf(o)
	requireWaiting(t, p, "slot 5")
	h := assessCluster(o, planCluster(o, false), nil)
	require.Contains(t, strings.Join(h.degraded, "; "), "slot 5")

	gone := append(nodes, testcluster.Node{Index: 6, Host: "a", ID: "t6", Master: true, NoPod: true})
	require.Equal(t, []string{"repairSlot"}, kinds(planOf(clusterFixture(3, 1, gone...))))
}

// A scale-in whose remaining masters would not hold the keys within the
// maxmemory limit is refused with the figures; one that fits goes ahead.
func TestScaleInThatDoesNotFitInMemoryIsRefused(t *testing.T) {
	shape := func(dataMiB int) *liveCluster {
		split := topology.EvenSplit(4)
		nodes := testcluster.Healthy()[:3]
		for i := range nodes {
			nodes[i].Slots, nodes[i].DataMiB = split[i:i+1], dataMiB
		}
		nodes = append(nodes, testcluster.Node{Index: 3, Host: "a", ID: "m3", Master: true, Slots: split[3:4], StateOK: true, DataMiB: dataMiB})
		o := clusterFixture(3, 0, nodes...)
		o.Members[3].Extra = true
		return o
	}
	p := planOf(shape(70))
	requireWaiting(t, p, "does not fit in memory")
	require.Contains(t, p.Actions[0].Reason, "95.3 MiB of 100.0 MiB", "the figures: 72 MiB + a third of 70 MiB")
	require.IsType(t, NotEnoughMemory{}, planCluster(shape(70), false)[0])
	require.Equal(t, []string{"migrate"}, kinds(planOf(shape(50))))
}

// Found by the e2e suite: while a migration runs, the replica of a source master that died
// was attached elsewhere, so it never took over and the master's slots went empty to a new
// node; and the migration's empty target was made a replica. Neither may happen.
func TestMigrationRunningKeepsReplicasOfDeadMastersAndTargets(t *testing.T) {
	split := topology.EvenSplit(3)
	nodes := testcluster.Healthy()
	nodes[1].NoPod = true // the migration's source, gone
	dead := topology.NodeView{ID: "m1", Addr: testcluster.Addr(1), Flags: map[string]bool{"master": true, "fail": true}, Slots: split[1:2]}
	for i := range nodes {
		nodes[i].Ghosts = []topology.NodeView{dead}
	}
	nodes = append(nodes, testcluster.Node{Index: 6, Host: "a", ID: "m6", Master: true, StateOK: true}) // the target, no slots yet
	// A free node that is neither the migration's nor a replica: the one to attach.
	nodes = append(nodes, testcluster.Node{Index: 7, Host: "b", ID: "n7", Master: true, StateOK: true})
	o := clusterFixture(4, 1, nodes...)
	o.Migrating = map[string]bool{"m1": true, "m6": true}
	var attached []string
	for _, a := range flatten(planCluster(o, true)).Actions {
		if a.Kind == actReplicate {
			attached = append(attached, a.Addr)
		}
	}
	require.Equal(t, []string{testcluster.Addr(7)}, attached,
		"replicas are still attached while slots move, but neither the dead source's replica nor the empty target is")
}

// Keys crowded into a few slots by hash tags: the drained master's dataset memory spread
// evenly over its slots would fit, but its three fullest slots all go to node 0, which the
// slots' own key counts and sizes show would be past the limit. The refusal names the method.
func TestScaleInOfCrowdedSlotsIsRefused(t *testing.T) {
	shape := func(est *topology.SlotMemory) *liveCluster {
		split := topology.EvenSplit(4)
		nodes := testcluster.Healthy()[:3]
		for i := range nodes {
			nodes[i].Slots, nodes[i].DataMiB = split[i:i+1], 50
		}
		nodes = append(nodes, testcluster.Node{Index: 3, Host: "a", ID: "m3", Master: true, Slots: split[3:4], StateOK: true, DataMiB: 50})
		o := clusterFixture(3, 0, nodes...)
		o.Members[3].Extra = true
		o.SlotMemory = est
		return o
	}
	crowded := func(hotMiB int64) *topology.SlotMemory {
		est := &topology.SlotMemory{Bytes: map[int]int64{}, Keys: 30000, Sampled: 600}
		for slot := 12288; slot < topology.SlotCount; slot++ {
			est.Bytes[slot] = (10 << 20) / 4093
		}
		for _, slot := range []int{12288, 12289, 12290} {
			est.Bytes[slot] = hotMiB << 20 / 3
		}
		return est
	}
	require.Equal(t, []string{"migrate"}, kinds(planOf(shape(nil))), "spread evenly, node 3's 50 MiB fit")
	p := planOf(shape(crowded(40)))
	requireWaiting(t, p, "does not fit in memory: node 0 would use 95.3 MiB of 100.0 MiB")
	require.Contains(t, p.Actions[0].Reason, "estimated from the key counts of the slots that move (30000 keys in 4096 slots) times the sizes of 600 sampled keys")
	require.Equal(t, []string{"migrate"}, kinds(planOf(shape(crowded(20)))), "20 MiB crowded fit")
}
