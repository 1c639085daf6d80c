package plan

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/topology"
)

// rollOf is what decide plans when no migration runs: the planner's steps, and the roll's when
// the planner has none.
func rollOf(o *liveCluster) plan {
	if p := planCluster(o, false); len(p) > 0 {
		return flatten(p)
	}
	return flatten(planRoll(o))
}

// rolling marks the members at indexes outdated and every other member with a pod current;
// WantedMembers at or above wanted are above the wanted count, the first of them the temporary node.
func rolling(o *liveCluster, wanted int, outdated ...int) *liveCluster {
	o.TemporaryIndex = wanted
	for i := range o.Members {
		m := &o.Members[i]
		m.Extra = m.Index >= wanted
		m.Outdated = slices.Contains(indexes(outdated), strconv.Itoa(m.Index))
		m.Current = !m.Outdated && m.IP != ""
	}
	return o
}

func indexes(list []int) []string {
	var out []string
	for _, i := range list {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func TestRollReplacesReplicasFirstThenHandsMastersOver(t *testing.T) {
	t.Run("a shard's replica is replaced before its master", func(t *testing.T) {
		p := rollOf(rolling(clusterFixture(3, 1, testcluster.Healthy()...), 6, 0, 1, 2, 3, 4, 5))
		require.Equal(t, []string{actReplace}, kinds(p))
		require.Equal(t, 3, p.Actions[0].Target.Index)
	})
	t.Run("a master whose replica is current hands over gracefully", func(t *testing.T) {
		p := rollOf(rolling(clusterFixture(3, 1, testcluster.Healthy()...), 6, 0, 1, 2))
		require.Equal(t, []string{actFailover}, kinds(p))
		require.Equal(t, testcluster.Addr(3), p.Actions[0].Addr)
		require.Equal(t, "m0", p.Actions[0].NodeID)
	})
	t.Run("the master that became a replica is replaced", func(t *testing.T) {
		nodes := testcluster.Healthy()
		nodes[0].Master, nodes[0].MasterID, nodes[0].Slots, nodes[0].LinkUp = false, "r3", nil, true
		nodes[3].Master, nodes[3].MasterID, nodes[3].Slots = true, "", topology.EvenSplit(3)[0:1]
		p := rollOf(rolling(clusterFixture(3, 1, nodes...), 6, 0))
		require.Equal(t, []string{actReplace}, kinds(p))
		require.Equal(t, 0, p.Actions[0].Target.Index)
	})
	t.Run("a replica that trails its master holds the roll", func(t *testing.T) {
		o := rolling(clusterFixture(3, 1, testcluster.Healthy()...), 6, 1)
		o.View.Nodes[testcluster.Addr(0)].Replication["master_repl_offset"] = strconv.Itoa(64 << 20)
		requireWaiting(t, rollOf(o), "replica node 3 to catch up")
	})
	t.Run("a replica in a full sync holds the roll", func(t *testing.T) {
		nodes := testcluster.Healthy()
		nodes[4].Syncing = true
		requireWaiting(t, rollOf(rolling(clusterFixture(3, 1, nodes...), 6, 0)), "replica node 4 to catch up")
	})
	t.Run("a node that does not answer holds the roll", func(t *testing.T) {
		nodes := testcluster.Healthy()
		nodes[5].NoPod = true
		o := rolling(clusterFixture(3, 1, nodes...), 6, 0)
		require.NotContains(t, kinds(rollOf(o)), actReplace)
		require.NotContains(t, kinds(flatten(planRoll(o))), actFailover)
	})
	t.Run("a replica some master does not yet know as one is not handed the role", func(t *testing.T) {
		nodes := testcluster.Healthy()
		nodes[1].Strangers = []string{"r3"}
		requireWaiting(t, rollOf(rolling(clusterFixture(3, 1, nodes...), 6, 0)), "every master to know node 3 as the replica of node 0")
	})
	t.Run("nothing outdated, nothing to roll", func(t *testing.T) {
		require.Empty(t, rollOf(rolling(clusterFixture(3, 1, testcluster.Healthy()...), 6)).Actions)
	})
}

// withoutReplicas is a formed 3x0 cluster on hosts a-c.
func withoutReplicas() []testcluster.Node {
	return testcluster.Healthy()[:3]
}

func TestRollOfAShardWithoutReplicaGoesThroughATemporaryNode(t *testing.T) {
	split := topology.EvenSplit(3)
	temporary := testcluster.Node{Index: 3, Host: "b", ID: "t3", Master: true, StateOK: true, Epoch: -1}

	t.Run("the temporary node is added", func(t *testing.T) {
		p := rollOf(rolling(clusterFixture(3, 0, withoutReplicas()...), 3, 0, 1, 2))
		require.Equal(t, []string{actTemporary}, kinds(p))
		require.Equal(t, 3, p.Actions[0].Slot)
	})
	t.Run("no port for it: the roll waits and says why", func(t *testing.T) {
		o := rolling(clusterFixture(3, 0, withoutReplicas()...), 3, 0)
		o.NoTemporary = "port 10003 of node 3 is held by RedisCluster cache/other"
		requireWaiting(t, rollOf(o), "held by RedisCluster cache/other")
	})
	t.Run("it becomes the outdated master's replica, and is not removed", func(t *testing.T) {
		p := rollOf(rolling(clusterFixture(3, 0, append(withoutReplicas(), temporary)...), 3, 0, 1, 2))
		require.Equal(t, []string{actReplicate}, kinds(p))
		require.Equal(t, testcluster.Addr(3), p.Actions[0].Addr)
		require.Equal(t, "m0", p.Actions[0].NodeID)
	})
	t.Run("it takes over once linked", func(t *testing.T) {
		t3 := temporary
		t3.Master, t3.MasterID, t3.LinkUp = false, "m0", true
		p := rollOf(rolling(clusterFixture(3, 0, append(withoutReplicas(), t3)...), 3, 0, 1, 2))
		require.Equal(t, []string{actFailover}, kinds(p))
		require.Equal(t, testcluster.Addr(3), p.Actions[0].Addr)
	})
	t.Run("the old master, now its replica, is replaced and not handed the slots back", func(t *testing.T) {
		nodes := withoutReplicas()
		nodes[0].Master, nodes[0].MasterID, nodes[0].Slots, nodes[0].LinkUp = false, "t3", nil, true
		t3 := temporary
		t3.Slots = split[0:1]
		p := rollOf(rolling(clusterFixture(3, 0, append(nodes, t3)...), 3, 0, 1, 2))
		require.Equal(t, []string{actReplace}, kinds(p))
		require.Equal(t, 0, p.Actions[0].Target.Index)
	})
	t.Run("the new pod becomes the temporary node's replica", func(t *testing.T) {
		nodes := withoutReplicas()
		nodes[0].ID, nodes[0].Slots, nodes[0].Epoch = "n0", nil, -1
		t3 := temporary
		t3.Slots = split[0:1]
		p := rollOf(rolling(clusterFixture(3, 0, append(nodes, t3)...), 3, 1, 2))
		require.Equal(t, []string{actReplicate}, kinds(p))
		require.Equal(t, testcluster.Addr(0), p.Actions[0].Addr)
		require.Equal(t, "t3", p.Actions[0].NodeID)
	})
	t.Run("the last shard's new pod too, once no pod is outdated", func(t *testing.T) {
		nodes := withoutReplicas()
		nodes[2].ID, nodes[2].Slots, nodes[2].Epoch = "n2", nil, -1
		t3 := temporary
		t3.Slots = split[2:3]
		p := rollOf(rolling(clusterFixture(3, 0, append(nodes, t3)...), 3))
		require.Equal(t, []string{actReplicate}, kinds(p))
		require.Equal(t, testcluster.Addr(2), p.Actions[0].Addr)
		require.Equal(t, "t3", p.Actions[0].NodeID)
	})
	t.Run("and takes its shard back gracefully", func(t *testing.T) {
		nodes := withoutReplicas()
		nodes[0].ID, nodes[0].Master, nodes[0].MasterID, nodes[0].Slots, nodes[0].LinkUp = "n0", false, "t3", nil, true
		t3 := temporary
		t3.Slots = split[0:1]
		p := rollOf(rolling(clusterFixture(3, 0, append(nodes, t3)...), 3, 1, 2))
		require.Equal(t, []string{actFailover}, kinds(p))
		require.Equal(t, testcluster.Addr(0), p.Actions[0].Addr)
		require.Equal(t, "t3", p.Actions[0].NodeID)
	})
	t.Run("then serves the next shard", func(t *testing.T) {
		t3 := temporary
		t3.Master, t3.MasterID, t3.LinkUp = false, "m0", true
		p := rollOf(rolling(clusterFixture(3, 0, append(withoutReplicas(), t3)...), 3, 1, 2))
		require.Equal(t, []string{actReplicate}, kinds(p))
		require.Equal(t, testcluster.Addr(3), p.Actions[0].Addr)
		require.Equal(t, "m1", p.Actions[0].NodeID)
	})
	t.Run("and is removed when every pod is current", func(t *testing.T) {
		t3 := temporary
		t3.Master, t3.MasterID, t3.LinkUp = false, "m2", true
		p := rollOf(rolling(clusterFixture(3, 0, append(withoutReplicas(), t3)...), 3))
		require.Equal(t, []string{actRemove}, kinds(p))
		require.Equal(t, "t3", p.Actions[0].NodeID)
	})
}

// A scale-out while the temporary node holds a shard makes its index a wanted one: the node stays
// the roll's temporary node, the roll goes on and the scale waits for it.
func TestScaleOutWaitsForTheRollsTemporaryNode(t *testing.T) {
	split := topology.EvenSplit(3)
	rc := testcluster.Cluster("rc")
	rc.Spec.Replicas = 0
	temporaryPod := objects.Pod(rc, 3)
	rc.Spec.Masters = 4
	in := plannerInput(rc, &Observation{Cluster: rc, Pods: map[int]*corev1.Pod{3: temporaryPod}})
	require.Equal(t, 3, in.TemporaryIndex)
	require.True(t, in.Members[3].Extra, "the temporary node is not a wanted node yet")
	require.False(t, objects.Pod(rc, 3).Annotations[objects.AnnotationTemporary] == "true", "a wanted node's pod is not temporary")

	t3 := testcluster.Node{Index: 3, Host: "b", ID: "t3", Master: true, StateOK: true, Epoch: -1, Slots: split[0:1]}
	nodes := withoutReplicas()
	nodes[0].ID, nodes[0].Master, nodes[0].MasterID, nodes[0].Slots, nodes[0].LinkUp = "n0", false, "t3", nil, true
	p := rollOf(rolling(clusterFixture(4, 0, append(nodes, t3)...), 3, 1, 2))
	require.Equal(t, []string{actFailover}, kinds(p), "its shard goes back first")
	require.Equal(t, "t3", p.Actions[0].NodeID)

	t3.Master, t3.MasterID, t3.Slots, t3.LinkUp = false, "m0", nil, true
	p = rollOf(rolling(clusterFixture(4, 0, append(withoutReplicas(), t3)...), 3, 1, 2))
	require.Equal(t, []string{actReplicate}, kinds(p), "then it serves the next shard, no new master awaited")
	require.Equal(t, "m1", p.Actions[0].NodeID)

	t3.MasterID = "m2"
	o := rolling(clusterFixture(4, 0, append(withoutReplicas(), t3)...), 3)
	p = rollOf(o)
	require.Equal(t, []string{actRemove}, kinds(p), "the roll over, it goes; the node at its index comes new")
	h := assessCluster(o, nil, nil)
	require.Contains(t, strings.Join(h.scaling, "; "), "the scale waits for the rolling update to end: its temporary node 3 holds a wanted index")
}
