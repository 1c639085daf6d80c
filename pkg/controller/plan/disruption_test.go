package plan

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/topology"
)

// podsLabelled are ready pods for nodes, labelled with the role and shard shards gives them.
func podsLabelled(rc *redisv1beta1.RedisCluster, nodes []testcluster.Node, shards map[string]int) map[int]*corev1.Pod {
	out := map[int]*corev1.Pod{}
	for _, n := range nodes {
		pod := objects.Pod(rc, n.Index)
		if s, ok := shards[n.ID]; ok {
			pod.Labels[objects.LabelRole], pod.Labels[objects.LabelShard] = "master", strconv.Itoa(s)
		} else if s, ok := shards[n.MasterID]; ok && !n.Master {
			pod.Labels[objects.LabelRole], pod.Labels[objects.LabelShard] = "replica", strconv.Itoa(s)
		}
		if !n.Down && !n.NoPod {
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		}
		out[n.Index] = pod
	}
	return out
}

// downMaster is a settled 3x1 cluster whose master of shard 1 stopped answering before its
// replica took over: the others still list it, failing, with its slots.
func downMaster() []testcluster.Node {
	nodes := testcluster.Healthy()
	nodes[1].Down = true
	line := nodes[1].Line(false)
	line.Flags["fail?"] = true
	for i := range nodes {
		if i != 1 {
			nodes[i].Ghosts = []topology.NodeView{line}
		}
	}
	return nodes
}

// A master that does not answer keeps its shard's number until a replica takes over: its
// replica, then the shard's only copy, keeps its labels, and no other shard is renumbered.
func TestLabelsStayWhileAMasterDoesNotAnswer(t *testing.T) {
	rc := testcluster.Cluster("rc")
	nodes := downMaster()
	in := clusterFixture(3, 1, nodes...)
	o := &Observation{Cluster: rc, View: in.View,
		Pods: podsLabelled(rc, nodes, map[string]int{"m0": 0, "m1": 1, "m2": 2})}
	require.Empty(t, planLabels(o, in))
}

// minAvailable maps each budget written to its minAvailable.
func minAvailable(write []*policyv1.PodDisruptionBudget) map[string]int32 {
	out := map[string]int32{}
	for _, b := range write {
		out[b.Name] = b.Spec.MinAvailable.IntVal
	}
	return out
}

// settledBudgets are the budgets of a settled cluster of masters shards with replicas each.
func settledBudgets(masters, replicas int32) map[string]int32 {
	out := map[string]int32{"rc-masters": masters}
	for k := range int(masters) {
		out["rc-shard-"+strconv.Itoa(k)] = max(replicas-1, 0)
	}
	return out
}

func TestLabelsAndBudgetsFollowTheShards(t *testing.T) {
	rc := testcluster.Cluster("rc")
	nodes := testcluster.Healthy()
	in := clusterFixture(3, 1, nodes...)
	o := &Observation{Cluster: rc, View: in.View, Pods: podsLabelled(rc, nodes, nil)}
	relabel := planLabels(o, in)
	labels := map[string]map[string]string{}
	for _, a := range relabel {
		labels[a.(LabelPod).Pod] = a.(LabelPod).Labels
	}
	require.Equal(t, map[string]string{objects.LabelRole: "master", objects.LabelShard: "0"}, labels["rc-0"])
	require.Equal(t, map[string]string{objects.LabelRole: "replica", objects.LabelShard: "2"}, labels["rc-5"])
	write, remove := planBudgets(o, relabel, nil)
	require.Empty(t, remove)
	require.Equal(t, map[string]int32{"rc-masters": 3, "rc-shard-0": 1, "rc-shard-1": 1, "rc-shard-2": 1}, minAvailable(write),
		"written before the labels: no replica may go until its master's pod carries the label")

	o.Pods = podsLabelled(rc, nodes, testcluster.Shards(nodes...))
	require.Empty(t, planLabels(o, in))
	write, remove = planBudgets(o, nil, map[string]int32{"rc-masters": 3, "rc-shard-0": 1, "rc-shard-1": 0, "rc-shard-2": 0, "rc-shard-3": 0})
	require.Equal(t, []string{"rc-shard-3"}, remove, "no pod of a fourth shard, none asked for")
	require.Equal(t, map[string]int32{"rc-shard-0": 0}, minAvailable(write), "the one replica of a shard may go; no master may")

	going := metav1.Now()
	o.Pods[0].DeletionTimestamp, o.Pods[3].DeletionTimestamp = &going, &going
	write, remove = planBudgets(o, nil, settledBudgets(3, 1))
	require.Empty(t, write, "terminating pods still count: no other may go meanwhile")
	require.Empty(t, remove)
}

// A scale-in refused for memory leaves four masters owning slots under spec.masters 3: the
// masters' budget keeps all four, and the fourth shard keeps its budget.
func TestBudgetsCoverEveryMasterOfARefusedScaleIn(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Masters, rc.Spec.Replicas = 3, 0
	split := topology.EvenSplit(4)
	var nodes []testcluster.Node
	for i := range 4 {
		nodes = append(nodes, testcluster.Node{Index: i, Host: "abc"[i%3 : i%3+1], ID: "m" + strconv.Itoa(i), Master: true,
			Slots: split[i : i+1], StateOK: true})
	}
	in := clusterFixture(3, 0, nodes...)
	o := &Observation{Cluster: rc, View: in.View, Pods: podsLabelled(rc, nodes, testcluster.Shards(nodes...))}
	relabel := planLabels(o, in)
	require.Empty(t, relabel)
	write, remove := planBudgets(o, relabel, settledBudgets(3, 0))
	require.Empty(t, remove)
	require.Equal(t, map[string]int32{"rc-masters": 4, "rc-shard-3": 0}, minAvailable(write))

	// Once the fourth master's slots are gone it loses its labels; its budget goes after them.
	nodes[3].Slots = nil
	nodes[0].Slots = []topology.SlotRange{split[0], split[3]}
	in = clusterFixture(3, 0, nodes...)
	o.View = in.View
	relabel = planLabels(o, in)
	require.Len(t, relabel, 1)
	write, remove = planBudgets(o, relabel, settledBudgets(4, 0))
	require.Empty(t, remove, "rc-3 is labelled until this sync's labels are written")
	require.Empty(t, write)
	o.Pods[3].Labels[objects.LabelRole], o.Pods[3].Labels[objects.LabelShard] = "", ""
	write, remove = planBudgets(o, nil, settledBudgets(4, 0))
	require.Equal(t, []string{"rc-shard-3"}, remove)
	require.Equal(t, map[string]int32{"rc-masters": 3}, minAvailable(write))
}

// After a failover the new master is labelled before the old one loses the label, and the
// budgets, written first, count both as masters and let none of the shard's replicas go.
func TestLabelsMoveToTheNewMasterBeforeTheyLeaveTheOldOne(t *testing.T) {
	rc := testcluster.Cluster("rc")
	before := testcluster.Healthy()
	nodes := testcluster.Healthy()
	nodes[0].Master, nodes[0].MasterID, nodes[0].Slots, nodes[0].LinkUp = false, "r3", nil, true
	nodes[3].Master, nodes[3].MasterID, nodes[3].Slots = true, "", before[0].Slots
	in := clusterFixture(3, 1, nodes...)
	o := &Observation{Cluster: rc, View: in.View, Pods: podsLabelled(rc, before, testcluster.Shards(before...))}
	relabel := planLabels(o, in)
	var order []string
	for _, a := range relabel {
		order = append(order, a.Why())
	}
	require.Equal(t, []string{"label pod rc-3 as master of shard 0", "label pod rc-0 as replica of shard 0"}, order)
	write, remove := planBudgets(o, relabel, settledBudgets(3, 1))
	require.Empty(t, remove)
	require.Equal(t, map[string]int32{"rc-masters": 4, "rc-shard-0": 2}, minAvailable(write))
}

// The replica of a master that does not answer holds its shard's only copy: its shard's
// budget lets none go.
func TestBudgetKeepsTheOnlyCopyOfAShard(t *testing.T) {
	rc := testcluster.Cluster("rc")
	nodes := downMaster()
	in := clusterFixture(3, 1, nodes...)
	o := &Observation{Cluster: rc, View: in.View, Pods: podsLabelled(rc, nodes, map[string]int{"m0": 0, "m1": 1, "m2": 2})}
	write, remove := planBudgets(o, planLabels(o, in), settledBudgets(3, 1))
	require.Empty(t, remove)
	require.Equal(t, map[string]int32{"rc-shard-1": 1}, minAvailable(write))

	delete(o.Pods, 1) // its pod deleted: the same
	write, _ = planBudgets(o, planLabels(o, in), settledBudgets(3, 1))
	require.Equal(t, map[string]int32{"rc-masters": 2, "rc-shard-1": 1}, minAvailable(write))
}
