package plan

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/topology"
)

func TestDrainHandsMastersOnACordonedNodeToAReplicaElsewhere(t *testing.T) {
	o := clusterFixture(3, 1, testcluster.Healthy()...)
	o.LeavingNodes = map[string]bool{"a": true}
	moves, blocked := planDrain(o)
	require.Empty(t, blocked)
	p := flatten(moves)
	require.Equal(t, []string{actFailover}, kinds(p))
	require.Equal(t, testcluster.Addr(3), p.Actions[0].Addr, "master 0 on a goes to its replica on b")
	require.Contains(t, p.Actions[0].Reason, "master of slots 0-5461 moved off node a before drain")

	nodes := testcluster.Healthy()
	nodes[3].Host = "a"
	o = clusterFixture(3, 1, nodes...)
	o.LeavingNodes = map[string]bool{"a": true}
	moves, blocked = planDrain(o)
	require.Empty(t, moves)
	require.Len(t, blocked, 1)
	require.Contains(t, blocked[0], "master node 0 on node a, which is being emptied, has no in-sync replica on another node")

	o = clusterFixture(3, 1, testcluster.Healthy()...)
	moves, blocked = planDrain(o)
	require.Empty(t, moves, "nothing cordoned, nothing moves")
	require.Empty(t, blocked)
}

// Cordoned, or tainted NoSchedule or NoExecute by an autoscaler removing it, a node is being
// emptied; other taints, and an autoscaler's soft candidate mark, do not say so.
func TestANodeIsLeavingWhenCordonedOrTaintedByAnAutoscaler(t *testing.T) {
	node := func(unschedulable bool, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints}}
	}
	require.True(t, Leaving(node(true)))
	require.False(t, Leaving(node(false)))
	for _, key := range []string{"ToBeDeletedByClusterAutoscaler", "karpenter.sh/disrupted", "karpenter.sh/disruption"} {
		require.True(t, Leaving(node(false, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})), key)
		require.True(t, Leaving(node(false, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute})), key)
		require.False(t, Leaving(node(false, corev1.Taint{Key: key, Effect: corev1.TaintEffectPreferNoSchedule})), key)
	}
	require.False(t, Leaving(node(false, corev1.Taint{Key: "DeletionCandidateOfClusterAutoscaler", Effect: corev1.TaintEffectPreferNoSchedule})))
	require.False(t, Leaving(node(false, corev1.Taint{Key: "dedicated", Value: "redis", Effect: corev1.TaintEffectNoSchedule})))
}

func TestSpreadMovesASecondMasterOffAKubernetesNode(t *testing.T) {
	nodes := testcluster.Healthy()
	// After failovers masters 0 and 4 share host a; 4's replica (node 1, once its master) is on b.
	split := topology.EvenSplit(3)
	nodes[1].Master, nodes[1].MasterID, nodes[1].Slots, nodes[1].LinkUp = false, "r4", nil, true
	nodes[4].Master, nodes[4].MasterID, nodes[4].Slots, nodes[4].Host = true, "", split[1:2], "a"
	nodes[1].Host = "b"
	nodes[5].Host = "c"
	nodes[2].Host = "b"
	// hosts: a: m0, m4; b: r1 (of m4), m2, r3 (of m0); c: r5 (of m2)
	p, risk := planSpread(clusterFixture(3, 1, nodes...))
	require.Len(t, p, 0, "b holds a master: no replica on a node without one")
	require.Contains(t, risk, "masters 0 and 4 share node a")

	nodes[2].Host = "c"
	nodes[5].Host = "b"
	// hosts: a: m0, m4; b: r1 (of m4), r3 (of m0), r5 (of m2); c: m2
	p, risk = planSpread(clusterFixture(3, 1, nodes...))
	require.Empty(t, risk)
	f := flatten(p)
	require.Equal(t, []string{actFailover}, kinds(f))
	require.Equal(t, testcluster.Addr(1), f.Actions[0].Addr)
	require.Equal(t, "r4", f.Actions[0].NodeID)

	_, risk = planSpread(clusterFixture(3, 1, append([]testcluster.Node(nil), func() []testcluster.Node {
		one := testcluster.Healthy()
		for i := range one {
			one[i].Host = "a"
		}
		return one
	}()...)...))
	require.Contains(t, risk, "layout at risk")
}

func TestSpreadMovesAReplicaOffItsMastersNodeToAnEmptyOne(t *testing.T) {
	nodes := testcluster.Healthy()
	nodes[3].Host = "a" // replica of master 0, on master 0's node
	nodes[5].Host = "b"
	o := clusterFixture(3, 1, nodes...)
	p, risk := planSpread(o)
	require.Empty(t, p, "no empty node: the scheduler would put it back")
	require.Contains(t, risk, "master 0 and its replica share node a")

	o.EmptyDomains = []string{"d"}
	p, risk = planSpread(o)
	require.Empty(t, risk)
	f := flatten(p)
	require.Equal(t, []string{actReplace}, kinds(f))
	require.Equal(t, 3, f.Actions[0].Target.Index)
}

func TestTopologyKeyMakesZonesTheFailureDomains(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TopologyKey = "topology.kubernetes.io/zone"
	pod := objects.Pod(rc, 0)
	require.Equal(t, "topology.kubernetes.io/zone", pod.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey)
	pod.Spec.NodeName = "node-a"
	o := &Observation{Cluster: rc, Pods: map[int]*corev1.Pod{0: pod}, Domains: map[string]string{"node-a": "zone-1"}}
	in := plannerInput(rc, o)
	require.Equal(t, "node-a", in.Members[0].Node, "a drain cordons the node")
	require.Equal(t, "zone-1", in.Members[0].Domain, "masters spread over zones")
}
