package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// layout maps each Kubernetes node to the roles of the cluster's nodes on it ("m0", "r0": role
// and shard), from the pods' labels and placement.
func layout(t *testing.T, ns, name string) map[string][]string {
	t.Helper()
	pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
	require.NoError(t, err)
	out := map[string][]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Labels["redis.redis/role"] != "" {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Labels["redis.redis/role"][:1]+p.Labels["redis.redis/shard"])
		}
	}
	for _, roles := range out {
		sort.Strings(roles)
	}
	return out
}

// spread reports whether no Kubernetes node holds two masters, or a master and its replica.
func spread(l map[string][]string) bool {
	for _, roles := range l {
		masters, shards := 0, map[string]int{}
		for _, r := range roles {
			if r[0] == 'm' {
				masters++
			}
			shards[r[1:]]++
		}
		if masters > 1 {
			return false
		}
		for _, n := range shards {
			if n > 1 {
				return false
			}
		}
	}
	return true
}

// eventsSaying counts the cluster's Events whose message contains text, repeats included (the
// recorder folds an Event repeated within minutes into one with a count).
func eventsSaying(t *testing.T, ns, name, text string) int {
	t.Helper()
	events, err := f.Kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	require.NoError(t, err)
	n := 0
	for _, e := range events.Items {
		if strings.Contains(e.Message, text) {
			n += max(1, int(e.Count))
		}
	}
	return n
}

func budgets(t *testing.T, ns string) []string {
	t.Helper()
	list, err := f.Kube.PolicyV1().PodDisruptionBudgets(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, b := range list.Items {
		out = append(out, b.Name)
	}
	sort.Strings(out)
	return out
}

func TestPlacementSpreadsShardsAndDrainsHandMastersOverFirst(t *testing.T) {
	rc := f.ReadyCluster(t, "placed")
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "kept", 20000)
	ctx := context.Background()

	// Replicas are paired across nodes from the start (three nodes, six pods: none is free to
	// move one to later); the role labels follow Ready within a sync or two.
	spreadStart := time.Now()
	framework.WaitFor(t, 30*time.Second, "pods labelled with their shards, spread over the nodes", func() (bool, error) {
		l := layout(t, ns, "placed")
		n := 0
		for _, roles := range l {
			n += len(roles)
		}
		return n == 6 && spread(l), nil
	})
	t.Logf("shards labelled and spread %s after Ready", time.Since(spreadStart).Round(100*time.Millisecond))
	require.Equal(t, []string{"placed-masters", "placed-shard-0", "placed-shard-1", "placed-shard-2"}, budgets(t, ns))

	// Two masters on one node by a manual failover: the operator spreads them again.
	rc = f.Cluster(t, ns, "placed")
	host := map[string]string{}
	pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=placed"})
	require.NoError(t, err)
	for _, p := range pods.Items {
		host[p.Name] = p.Spec.NodeName
	}
	mastersOn := map[string]bool{}
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleMaster {
			mastersOn[host[n.Pod]] = true
		}
	}
	promoted := ""
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleReplica && mastersOn[host[n.Pod]] && promoted == "" {
			promoted = fmt.Sprintf("%s:%d", n.IP, n.Port)
			framework.PromoteReplica(t, promoted)
		}
	}
	require.NotEmpty(t, promoted, "a replica shares a node with another shard's master")
	start := time.Now()
	framework.WaitFor(t, time.Minute, "the masters to be spread again", func() (bool, error) {
		return spread(layout(t, ns, "placed")) && eventsSaying(t, ns, "placed", "spread masters") > 0, nil
	})
	t.Logf("two masters on one node spread again in %.1fs", time.Since(start).Seconds())
	f.WaitReady(t, ns, "placed", time.Minute)

	// The masters' budget refuses evicting a master. A new master is labelled before its former
	// one loses the label, so for a sync four pods may carry it.
	var masterPods *corev1.PodList
	framework.WaitFor(t, 30*time.Second, "three pods labelled master", func() (bool, error) {
		var err error
		masterPods, err = f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=placed,redis.redis/role=master"})
		return err == nil && len(masterPods.Items) == 3, err
	})
	framework.WaitFor(t, 30*time.Second, "the masters' budget to count the three masters", func() (bool, error) {
		b, err := f.Kube.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "placed-masters", metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.CurrentHealthy == 3 && b.Status.DisruptionsAllowed == 0, err
	})
	err = f.Kube.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: masterPods.Items[0].Name, Namespace: ns}})
	require.True(t, apierrors.IsTooManyRequests(err), "a master's eviction is refused: %v", err)

	// A drain of a node holding a master, with 8 writers: the master hands over first.
	drainUnderWriters(t, rc, "kept", 20000)

	// The drained node, back, is empty: shards spread onto it again.
	start = time.Now()
	framework.WaitFor(t, 3*time.Minute, "the shards to spread over the three nodes again", func() (bool, error) {
		l := layout(t, ns, "placed")
		return len(l) == 3 && spread(l), nil
	})
	t.Logf("shards spread over the uncordoned node in %.1fs", time.Since(start).Seconds())

	// Every pod of one node lost at once: each shard had a member elsewhere, so every slot has
	// a serving master again and no key is lost.
	lost := ""
	for node := range layout(t, ns, "placed") {
		lost = node
		break
	}
	pods, err = f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=placed", FieldSelector: "spec.nodeName=" + lost})
	require.NoError(t, err)
	for _, p := range pods.Items {
		require.NoError(t, f.Kube.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	}
	rc = f.WaitWhole(t, ns, "placed", 3*time.Minute)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 20000)

	// The budgets follow the shards.
	patchCluster(t, ns, "placed", `{"spec":{"masters":4}}`)
	framework.WaitFor(t, 30*time.Second, "a fourth shard's budget", func() (bool, error) {
		return len(budgets(t, ns)) == 5, nil
	})
	f.WaitReady(t, ns, "placed", 3*time.Minute)
	patchCluster(t, ns, "placed", `{"spec":{"masters":3}}`)
	framework.WaitFor(t, 3*time.Minute, "the fourth shard's budget gone", func() (bool, error) {
		return len(budgets(t, ns)) == 4, nil
	})
	f.WaitReady(t, ns, "placed", 3*time.Minute)
}

// The cluster autoscaler does not cordon a node it removes: it taints it
// ToBeDeletedByClusterAutoscaler and evicts its pods. The masters there hand over first, so the
// evictions go through instead of being refused by the masters' budget until it gives up.
func TestAutoscalerTaintHandsMastersOverFirst(t *testing.T) {
	rc := f.ReadyCluster(t, "tainted")
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 5000)
	ctx := context.Background()
	// Replicas are paired across nodes from the start (three nodes, six pods: none is free to
	// move one to later); the role labels follow Ready within a sync or two.
	spreadStart := time.Now()
	framework.WaitFor(t, 30*time.Second, "pods labelled with their shards, spread over the nodes", func() (bool, error) {
		l := layout(t, ns, "tainted")
		return len(l) == 3 && spread(l), nil
	})
	t.Logf("shards spread %s after Ready", time.Since(spreadStart).Round(100*time.Millisecond))
	leaving := ""
	for node, roles := range layout(t, ns, "tainted") {
		if strings.Contains(strings.Join(roles, ","), "m") {
			leaving = node
			break
		}
	}
	taint := corev1.Taint{Key: "ToBeDeletedByClusterAutoscaler", Value: strconv.FormatInt(time.Now().Unix(), 10), Effect: corev1.TaintEffectNoSchedule}
	setTaints(t, leaving, func(taints []corev1.Taint) []corev1.Taint { return append(taints, taint) })
	t.Cleanup(func() {
		setTaints(t, leaving, func(taints []corev1.Taint) []corev1.Taint {
			return slices.DeleteFunc(taints, func(x corev1.Taint) bool { return x.Key == taint.Key })
		})
	})

	start := time.Now()
	framework.WaitFor(t, time.Minute, "no master left on "+leaving, func() (bool, error) {
		return !strings.Contains(strings.Join(layout(t, ns, "tainted")[leaving], ","), "m"), nil
	})
	t.Logf("masters moved off %s %.1fs after its taint", leaving, time.Since(start).Seconds())
	require.Positive(t, eventsSaying(t, ns, "tainted", "moved off node "+leaving))

	// The autoscaler's evictions, retried while a budget refuses one, as it does.
	pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=tainted", FieldSelector: "spec.nodeName=" + leaving})
	require.NoError(t, err)
	for _, p := range pods.Items {
		framework.WaitFor(t, time.Minute, "evicting "+p.Name, func() (bool, error) {
			err := f.Kube.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns}})
			return err == nil || apierrors.IsNotFound(err), nil
		})
	}
	rc = f.WaitWhole(t, ns, "tainted", 2*time.Minute)
	for node := range layout(t, ns, "tainted") {
		require.NotEqual(t, leaving, node, "no pod back on the tainted node")
	}
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 5000)
}

// setTaints changes a Kubernetes node's taints, retrying on a conflict.
func setTaints(t *testing.T, node string, change func([]corev1.Taint) []corev1.Taint) {
	t.Helper()
	framework.WaitFor(t, 30*time.Second, "the taints of "+node, func() (bool, error) {
		n, err := f.Kube.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n.Spec.Taints = change(n.Spec.Taints)
		_, err = f.Kube.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err == nil, err
	})
}

// TestSpreadStopsWhenTheEmptyNodeRefusesThePod: a node holds none of the cluster's pods, but
// other pods hold the cluster's host ports there, so no pod of the cluster can run on it. The
// operator replaces a replica once to spread the shards; the replacement lands on a crowded node
// again, and the operator must not replace pods on and on (each replacement is a full resync of
// a replica): it says why the layout stays at risk and leaves the pods where they are.
func TestSpreadStopsWhenTheEmptyNodeRefusesThePod(t *testing.T) {
	const keys = 20000
	op := f.StartOperator(t)
	hosts, err := f.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(hosts.Items), 3)
	refusing := hosts.Items[len(hosts.Items)-1].Name
	cordon(t, refusing)
	rc := f.ReadyCluster(t, "unspread", framework.RunBy(op))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "unspread", keys)
	require.False(t, spread(layout(t, ns, "unspread")), "six pods on two nodes crowd a node")

	for i := range rc.Spec.NodeCount() {
		blockHostPort(t, ns, refusing, rc.Spec.NodePort(i))
	}
	waitBlockersRunning(t, ns, rc.Spec.NodeCount())
	for i := range rc.Spec.NodeCount() {
		waitSchedulerSeesPort(t, ns, refusing, rc.Spec.NodePort(i))
	}
	uncordon(t, refusing)

	framework.WaitFor(t, 2*time.Minute, "Degraded to say the empty node did not take the replaced pod", func() (bool, error) {
		rc = f.Cluster(t, ns, "unspread")
		c := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionDegraded)
		if c == nil {
			return false, fmt.Errorf("no Degraded condition")
		}
		return strings.Contains(c.Message, "did not land in "+refusing), fmt.Errorf("Degraded=%s: %s", c.Status, c.Message)
	})
	replaced := eventsSaying(t, ns, "unspread", "spread shards: replace pod")
	t.Logf("%d replacements to spread before the operator gave up on %s", replaced, refusing)
	uids := map[string]string{}
	pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=unspread"})
	require.NoError(t, err)
	for _, p := range pods.Items {
		uids[p.Name] = string(p.UID)
	}
	op.WaitReconciles(t, ns, 5, time.Minute)
	pods, err = f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=unspread"})
	require.NoError(t, err)
	for _, p := range pods.Items {
		require.Equal(t, uids[p.Name], string(p.UID), "%s was not replaced again", p.Name)
	}
	require.Equal(t, 1, replaced, "one replacement to try the empty node")
	rc = f.WaitReady(t, ns, "unspread", time.Minute)
	missing := framework.MissingKeys(t, framework.ClusterClient(t, rc), "unspread", keys)
	require.Empty(t, missing, "%d of %d keys are missing or wrong", len(missing), keys)
	f.CheckInvariants(t, rc)
}

// drainUnderWriters drains a Kubernetes node holding a master of rc, whose keys prefix:0 to
// prefix:keys-1 are written, with 8 writers, and uncordons it: each master there hands over
// before its pod goes, and no key nor acknowledged write is lost. It returns the cluster whole
// again.
func drainUnderWriters(t *testing.T, rc *redisv1beta1.RedisCluster, prefix string, keys int) *redisv1beta1.RedisCluster {
	ns, name := rc.Namespace, rc.Name
	ctx := context.Background()
	client := framework.ClusterClient(t, rc)
	drained, mastersThere := "", 0
	for node, roles := range layout(t, ns, name) {
		if joined := strings.Join(roles, ","); strings.Contains(joined, "m") && drained == "" {
			drained, mastersThere = node, strings.Count(joined, "m")
		}
	}
	w := framework.StartWriters(client, 8, 1000000)
	start := time.Now()
	drainCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := f.Kubectl(drainCtx, "drain", drained, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s",
		"--pod-selector=app.kubernetes.io/instance="+name) // other tests' pods may still be going
	require.NoError(t, err, out)
	took := time.Since(start)
	t.Cleanup(func() { _, _ = f.Kubectl(context.Background(), "uncordon", drained) })
	rc = f.WaitWhole(t, ns, name, 2*time.Minute)
	w.Halt()
	_, err = f.Kubectl(ctx, "uncordon", drained)
	require.NoError(t, err)

	for node, roles := range layout(t, ns, name) {
		require.NotEqual(t, drained, node, "no pod left on the drained node: %v", roles)
	}
	require.GreaterOrEqual(t, eventsSaying(t, ns, name, "moved off node "+drained+" before drain"), mastersThere,
		"each master on %s was handed over before its pod went", drained)
	client = framework.ClusterClient(t, rc)
	framework.CheckKeys(t, client, prefix, keys)
	w.CheckAcked(t, client)
	t.Logf("drained %s in %.1fs; %d writes acknowledged, %d refused, longest wait between two acknowledged writes %v",
		drained, took.Seconds(), w.Acked(), w.Fails(), w.LongestGap().Round(time.Millisecond))
	return rc
}
