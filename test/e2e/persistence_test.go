package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// Persistent nodes that come back on another Kubernetes node: same claim, same data, same node
// id, but a new IP.

// persistent gives the cluster persistence.
var persistent = framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
	s.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
})

// TestPersistentMasterWithoutReplicaMovesToAnotherHost loses a master that has no replica, and
// its pod comes back on another host. With persistence the node returns with its keys and node
// id, so the operator must wait for it and let it serve its slots again, not give them away empty.
func TestPersistentMasterWithoutReplicaMovesToAnotherHost(t *testing.T) {
	const keys = 20000
	op := f.StartOperator(t)
	// The default clusterNodeTimeout: 5000 ms.
	rc := f.ReadyCluster(t, "moved", framework.RunBy(op), framework.Shape(3, 0), persistent)
	ns := rc.Namespace
	require.EqualValues(t, 5000, rc.Spec.NodeTimeoutMillis())
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "moved", keys)
	framework.WaitAOFWritten(t, rc)

	master := masterWithSlots(t, rc)
	old := getPod(t, ns, master.Pod)
	require.NotEmpty(t, old.Spec.NodeName)
	t.Logf("master %s (id %s, slots %v) runs on %s at %s", master.Pod, master.NodeID, master.Slots, old.Spec.NodeName, master.IP)

	// No host takes a new pod for now: the replacement waits unscheduled, as when moving a pod
	// and its volume to another host takes a while, until the other masters have declared the
	// master failed (or forgotten it) and the operator has reconciled the cluster twice since,
	// room to give the slots away if it would. Then another host takes it; the master's own host
	// stays cordoned.
	var survivors []string
	for _, n := range rc.Status.Nodes {
		if n.Pod != master.Pod {
			survivors = append(survivors, net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port))))
		}
	}
	hosts, err := f.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	target := ""
	for _, h := range hosts.Items {
		cordon(t, h.Name)
		if h.Name != old.Spec.NodeName && target == "" {
			target = h.Name
		}
	}
	require.NotEmpty(t, target, "another host than %s", old.Spec.NodeName)
	start := time.Now()
	deletePod(t, ns, master.Pod)
	seen := waitFailedOrForgotten(t, survivors, master.NodeID, 60*time.Second)
	t.Logf("%s after the delete: %s", time.Since(start).Round(time.Millisecond), strings.Join(seen, "; "))
	op.WaitReconciles(t, ns, 2, time.Minute)
	if ready := meta.FindStatusCondition(f.Cluster(t, ns, "moved").Status.Conditions, redisv1beta1.ConditionReady); ready != nil {
		t.Logf("%s after the delete the operator says Ready=%s: %s", time.Since(start).Round(time.Millisecond), ready.Status, ready.Message)
	}
	uncordon(t, target)
	moved := waitReplaced(t, ns, master.Pod, old.UID, time.Minute)
	require.NotEqual(t, old.Spec.NodeName, moved.Spec.NodeName, "the replacement avoided the cordoned host")
	require.NotEqual(t, master.IP, moved.Status.PodIP, "the replacement has a new IP")
	t.Logf("the replacement runs on %s at %s, %s after the delete", moved.Spec.NodeName, moved.Status.PodIP, time.Since(start).Round(time.Millisecond))

	rc = waitReadyWithIPs(t, ns, "moved", map[string]string{master.Pod: moved.Status.PodIP}, start.Add(2*time.Minute))
	t.Logf("Ready again %s after the delete", time.Since(start).Round(time.Millisecond))

	back, ok := nodeStatus(rc, master.Pod)
	require.True(t, ok, "%s is in the status", master.Pod)
	assert.Equal(t, master.NodeID, back.NodeID, "the node kept its id")
	assert.Equal(t, redisv1beta1.RoleMaster, back.Role, "the node is a master again")
	assert.ElementsMatch(t, master.Slots, back.Slots, "the node owns its slots again")
	assert.Empty(t, slotsLostEvents(t, ns, "moved"), "no slot was given away empty")
	missing := framework.MissingKeys(t, framework.ClusterClient(t, rc), "moved", keys)
	assert.Zero(t, len(missing), "%d of %d keys are missing or wrong", len(missing), keys)
	f.CheckInvariants(t, rc)
}

// TestEveryPersistentPodMovesHosts deletes every pod of a persistent cluster at once, and every
// replacement lands on another host than its pod had, a few seconds later: no node is where the
// others last saw it. Each must come back with its node id and the cluster with every key.
func TestEveryPersistentPodMovesHosts(t *testing.T) {
	const keys = 20000
	rc := f.ReadyCluster(t, "movedall", persistent)
	ns := rc.Namespace
	require.Len(t, rc.Status.Nodes, 6)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "movedall", keys)
	framework.WaitAOFWritten(t, rc)

	before := map[string]redisv1beta1.NodeStatus{}
	olds := map[string]*corev1.Pod{}
	for _, n := range rc.Status.Nodes {
		require.NotEmpty(t, n.NodeID, "%+v", n)
		pod := getPod(t, ns, n.Pod)
		require.NotEmpty(t, pod.Spec.NodeName)
		before[n.Pod], olds[n.Pod] = n, pod
		t.Logf("%s (%s %s) runs on %s at %s", n.Pod, n.Role, n.NodeID, pod.Spec.NodeName, n.IP)
	}

	// Every host is cordoned while the pods go, so the replacements wait unscheduled. Once the
	// old pods are gone, a pod holding each node's client port on the node's old host keeps its
	// replacement off that host. (A blocker must not share a port with a pod still there: the
	// scheduler forgets a host port when either of two pods holding it goes.)
	hosts, err := f.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, h := range hosts.Items {
		cordon(t, h.Name)
	}
	start := time.Now()
	for name := range olds {
		deletePod(t, ns, name)
	}
	framework.WaitFor(t, time.Minute, "the old pods to be gone", func() (bool, error) {
		for name, old := range olds {
			pod, err := f.Kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && pod.UID == old.UID {
				return false, fmt.Errorf("%s is still there", name)
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
	for name, old := range olds {
		blockHostPort(t, ns, old.Spec.NodeName, before[name].Port)
	}
	waitBlockersRunning(t, ns, len(olds))
	for name, old := range olds {
		waitSchedulerSeesPort(t, ns, old.Spec.NodeName, before[name].Port)
	}
	for _, h := range hosts.Items {
		uncordon(t, h.Name)
	}
	t.Logf("the hosts take pods again %s after the delete", time.Since(start).Round(time.Millisecond))

	wantIPs := map[string]string{}
	scheduled := start.Add(2 * time.Minute)
	for name, old := range olds {
		moved := waitReplaced(t, ns, name, old.UID, time.Until(scheduled))
		if moved.Spec.NodeName == old.Spec.NodeName {
			logPodsOn(t, ns, moved.Spec.NodeName)
		}
		require.NotEqual(t, old.Spec.NodeName, moved.Spec.NodeName, "%s moved hosts", name)
		require.NotEqual(t, old.Status.PodIP, moved.Status.PodIP, "%s has a new IP", name)
		wantIPs[name] = moved.Status.PodIP
		t.Logf("%s moved from %s to %s (%s)", name, old.Spec.NodeName, moved.Spec.NodeName, moved.Status.PodIP)
	}
	t.Logf("all %d pods moved hosts, %s after the delete", len(wantIPs), time.Since(start).Round(time.Millisecond))

	rc = waitReadyWithIPs(t, ns, "movedall", wantIPs, start.Add(3*time.Minute))
	t.Logf("Ready again %s after the delete", time.Since(start).Round(time.Millisecond))

	for name, was := range before {
		now, ok := nodeStatus(rc, name)
		if assert.True(t, ok, "%s is in the status", name) {
			assert.Equal(t, was.NodeID, now.NodeID, "%s kept its node id", name)
		}
	}
	assert.Empty(t, slotsLostEvents(t, ns, "movedall"), "no slot was given away empty")
	missing := framework.MissingKeys(t, framework.ClusterClient(t, rc), "movedall", keys)
	assert.Zero(t, len(missing), "%d of %d keys are missing or wrong", len(missing), keys)
	f.CheckInvariants(t, rc)
}

func masterWithSlots(t *testing.T, rc *redisv1beta1.RedisCluster) redisv1beta1.NodeStatus {
	t.Helper()
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleMaster && len(n.Slots) > 0 && n.NodeID != "" && n.IP != "" {
			return n
		}
	}
	t.Fatalf("no master with slots in %+v", rc.Status.Nodes)
	return redisv1beta1.NodeStatus{}
}

func nodeStatus(rc *redisv1beta1.RedisCluster, pod string) (redisv1beta1.NodeStatus, bool) {
	for _, n := range rc.Status.Nodes {
		if n.Pod == pod {
			return n, true
		}
	}
	return redisv1beta1.NodeStatus{}, false
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	pod, err := f.Kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return pod
}

// cordon marks a Kubernetes node unschedulable until the test ends.
func cordon(t *testing.T, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := f.Kubectl(ctx, "uncordon", node); err != nil {
			t.Errorf("kubectl uncordon %s: %v\n%s", node, err, out)
		}
	})
	out, err := f.Kubectl(ctx, "cordon", node)
	require.NoError(t, err, out)
}

func uncordon(t *testing.T, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := f.Kubectl(ctx, "uncordon", node)
	require.NoError(t, err, out)
}

// waitFailedOrForgotten waits until every node at addrs either flags node id fail in CLUSTER
// NODES or no longer lists it (it was forgotten), and returns what each says.
func waitFailedOrForgotten(t *testing.T, addrs []string, id string, timeout time.Duration) []string {
	t.Helper()
	var seen []string
	framework.WaitFor(t, timeout, "node "+id+" to be flagged fail or forgotten by "+strings.Join(addrs, ", "), func() (bool, error) {
		seen = nil
		for _, addr := range addrs {
			c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
			out, err := c.ClusterNodes(context.Background()).Result()
			_ = c.Close()
			if err != nil {
				return false, fmt.Errorf("%s: %w", addr, err)
			}
			flags := ""
			for _, line := range strings.Split(out, "\n") {
				if fields := strings.Fields(line); len(fields) > 2 && fields[0] == id {
					flags = fields[2]
				}
			}
			switch {
			case flags == "":
				seen = append(seen, addr+" forgot it")
			case slices.Contains(strings.Split(flags, ","), "fail"):
				seen = append(seen, addr+" flags it "+flags)
			default:
				return false, fmt.Errorf("%s sees it with flags %s", addr, flags)
			}
		}
		return true, nil
	})
	return seen
}

// logPodsOn logs the namespace's pods bound to node, with their host ports.
func logPodsOn(t *testing.T, ns, node string) {
	t.Helper()
	pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if p.Spec.NodeName == node {
			var ports []int32
			for _, c := range p.Spec.Containers {
				for _, port := range c.Ports {
					ports = append(ports, port.HostPort)
				}
			}
			t.Logf("on %s: pod %s (uid %s, phase %s, created %s) host ports %v", node, p.Name, p.UID, p.Status.Phase, p.CreationTimestamp, ports)
		}
	}
}

// waitReplaced waits for pod name to be recreated (a new UID), scheduled, running and with an IP.
func waitReplaced(t *testing.T, ns, name string, oldUID types.UID, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	framework.WaitFor(t, timeout, "pod "+name+" to be replaced and running", func() (bool, error) {
		var err error
		pod, err = f.Kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, err
		}
		if err != nil {
			return false, err
		}
		if pod.UID == oldUID || pod.DeletionTimestamp != nil {
			return false, fmt.Errorf("the old pod is still there")
		}
		return pod.Spec.NodeName != "" && pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "",
			fmt.Errorf("new pod on node %q, phase %s, conditions %+v", pod.Spec.NodeName, pod.Status.Phase, pod.Status.Conditions)
	})
	return pod
}

// waitReadyWithIPs waits until deadline for the cluster to be Ready for its latest generation
// with the status listing each pod of wantIPs at its new IP, so a Ready left from before the
// move does not count. On a timeout it logs what the operator and the nodes say, then fails.
func waitReadyWithIPs(t *testing.T, ns, name string, wantIPs map[string]string, deadline time.Time) *redisv1beta1.RedisCluster {
	t.Helper()
	var rc *redisv1beta1.RedisCluster
	err := framework.Poll(time.Until(deadline), fmt.Sprintf("RedisCluster %s/%s Ready with the moved pods", ns, name), func() (bool, error) {
		var err error
		rc, err = f.Redis.RedisV1beta1().RedisClusters(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for pod, moved := range wantIPs {
			// Once moved, a pod may move again: the operator spreads shards over the nodes.
			ip := moved
			if cur, err := f.Kube.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{}); err == nil && cur.Status.PodIP != "" {
				ip = cur.Status.PodIP
			}
			if n, _ := nodeStatus(rc, pod); n.IP != ip {
				return false, fmt.Errorf("status has %s at %q, not yet at %s", pod, n.IP, ip)
			}
		}
		ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady)
		if ready == nil {
			return false, fmt.Errorf("no Ready condition")
		}
		return rc.Status.ObservedGeneration == rc.Generation && ready.Status == metav1.ConditionTrue,
			fmt.Errorf("Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
	})
	if err != nil {
		describeCluster(t, ns, name)
		t.Fatal(err)
	}
	return rc
}

// describeCluster logs the cluster's conditions and nodes, its Warning Events and what every node
// says in CLUSTER NODES, to see why it is not Ready.
func describeCluster(t *testing.T, ns, name string) {
	t.Helper()
	rc := f.Cluster(t, ns, name)
	for _, c := range rc.Status.Conditions {
		t.Logf("condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, n := range rc.Status.Nodes {
		t.Logf("status node %+v", n)
	}
	for _, e := range clusterEvents(t, ns, name) {
		if e.Type == corev1.EventTypeWarning {
			t.Logf("event %s (x%d): %s", e.Reason, e.Count, e.Message)
		}
	}
	for _, addr := range framework.NodeAddrs(rc) {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		out, err := c.ClusterNodes(context.Background()).Result()
		_ = c.Close()
		t.Logf("CLUSTER NODES on %s (err %v):\n%s", addr, err, strings.TrimSpace(out))
	}
}

func clusterEvents(t *testing.T, ns, name string) []corev1.Event {
	t.Helper()
	events, err := f.Kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []corev1.Event
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "RedisCluster" && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// slotsLostEvents are the messages of the SlotsLost Events recorded on the cluster.
func slotsLostEvents(t *testing.T, ns, name string) []string {
	t.Helper()
	var out []string
	for _, e := range clusterEvents(t, ns, name) {
		if e.Reason == "SlotsLost" {
			out = append(out, e.Message)
		}
	}
	return out
}
