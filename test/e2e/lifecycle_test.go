package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/e2e/framework"
)

func podOfRole(t testing.TB, rc *redisv1beta1.RedisCluster, role string) redisv1beta1.NodeStatus {
	t.Helper()
	for _, n := range rc.Status.Nodes {
		if n.Role == role {
			return n
		}
	}
	t.Fatalf("no %s in %+v", role, rc.Status.Nodes)
	return redisv1beta1.NodeStatus{}
}

// waitNotReady waits until the operator has noticed a loss and reports the cluster not Ready.
func waitNotReady(t testing.TB, namespace, name string) {
	t.Helper()
	framework.WaitFor(t, 30*time.Second, "the loss to be noticed", func() (bool, error) {
		cur := f.Cluster(t, namespace, name)
		return !meta.IsStatusConditionTrue(cur.Status.Conditions, redisv1beta1.ConditionReady), nil
	})
}

func deletePod(t *testing.T, namespace, name string) {
	t.Helper()
	require.NoError(t, f.Kube.CoreV1().Pods(namespace).Delete(context.Background(), name, metav1.DeleteOptions{}))
}

func TestSeedClusterBecomesReadyAndHealsLostPods(t *testing.T) {
	op := f.StartOperator(t, "--resync-period", "2s")
	ctx := context.Background()
	f.ApplySeed(t)

	rc := f.WaitReady(t, "cache", "rediscluster1", 2*time.Minute)
	require.Len(t, rc.Status.Nodes, 6)
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	require.EqualValues(t, 3, rc.Status.ReadyReplicas)
	f.CheckInvariants(t, rc)
	// Clients of the original operator find the nodes by the cluster's name alone.
	checkDiscovery(t, op, rc, "clusterName=rediscluster1")

	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "seed", 20000)

	// A steady cluster costs no API writes across several resyncs: three whole reconciles (one
	// every 2 s) and the cluster is as it was.
	before := f.Cluster(t, "cache", "rediscluster1").ResourceVersion
	op.WaitReconciles(t, "cache", 3, 30*time.Second)
	require.Equal(t, before, f.Cluster(t, "cache", "rediscluster1").ResourceVersion, "a resync of a steady cluster wrote to the API")

	// A slot left half-migrated by anything is repaired without losing a key.
	leaveSlotOpen(t, rc, 42)
	framework.WaitFor(t, 30*time.Second, "the open slot to be repaired", func() (bool, error) {
		return f.InvariantsHold(rc), nil
	})
	framework.CheckKeys(t, client, "seed", 20000)

	// A master's pod is lost: its replica takes over, the pod comes back and rejoins as a replica.
	master := podOfRole(t, rc, redisv1beta1.RoleMaster)
	attached := "make node " + strings.TrimPrefix(master.Pod, "rediscluster1-") + " a replica of"
	attachedBefore := eventsSaying(t, "cache", "rediscluster1", attached)
	deletePod(t, "cache", master.Pod)
	healWithin := time.Duration(rc.Spec.NodeTimeoutMillis())*time.Millisecond + 15*time.Second
	waitNotReady(t, "cache", "rediscluster1")
	rc = f.WaitReady(t, "cache", "rediscluster1", healWithin)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, client, "seed", 20000)
	// Ready waits until every node lists the new replica, and by then the spread may have handed
	// the master role back to it: its Event tells that it joined as a replica.
	for _, n := range rc.Status.Nodes {
		if n.Pod == master.Pod {
			require.NotEqual(t, master.NodeID, n.NodeID, "the replacement joined with a new id")
		}
	}
	require.Greater(t, eventsSaying(t, "cache", "rediscluster1", attached), attachedBefore, "the replacement joined as a replica")

	// A replica's pod is lost: it comes back as a replica.
	deletePod(t, "cache", podOfRole(t, rc, redisv1beta1.RoleReplica).Pod)
	waitNotReady(t, "cache", "rediscluster1")
	rc = f.WaitReady(t, "cache", "rediscluster1", healWithin)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, client, "seed", 20000)

	// Deleting the cluster removes everything it owns.
	require.NoError(t, f.Redis.RedisV1beta1().RedisClusters("cache").Delete(ctx, "rediscluster1", metav1.DeleteOptions{}))
	framework.WaitFor(t, 60*time.Second, "the cluster's pods, services and config maps to be gone", func() (bool, error) {
		selector := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=rediscluster1"}
		pods, err := f.Kube.CoreV1().Pods("cache").List(ctx, selector)
		if err != nil {
			return false, err
		}
		svcs, err := f.Kube.CoreV1().Services("cache").List(ctx, selector)
		if err != nil {
			return false, err
		}
		cms, err := f.Kube.CoreV1().ConfigMaps("cache").List(ctx, selector)
		if err != nil {
			return false, err
		}
		return len(pods.Items)+len(svcs.Items)+len(cms.Items) == 0, nil
	})
}

func TestBootstrapSurvivesAnOperatorCrash(t *testing.T) {
	op := f.StartOperator(t)
	ns := f.Namespace(t, "crash")
	f.CreateCluster(t, framework.NewCluster(ns, "crashy", f.FreeBasePort(t)))

	// Kill the operator once the nodes have met, before the cluster is formed.
	framework.WaitFor(t, 60*time.Second, "the bootstrap to start", func() (bool, error) {
		events, err := f.Kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == "MetNode" {
				return true, nil
			}
		}
		return false, nil
	})
	op.Kill()
	f.StartOperator(t)
	rc := f.WaitReady(t, ns, "crashy", 2*time.Minute)
	f.CheckInvariants(t, rc)
}

func TestClustersInTwoNamespacesAndAPortConflict(t *testing.T) {
	op := f.StartOperator(t)
	a := f.ReadyCluster(t, "alpha", framework.RunBy(op))
	b := f.ReadyCluster(t, "beta", framework.RunBy(op))
	first, second, third := a.Namespace, b.Namespace, f.Namespace(t, "third")

	// gamma's node 0 would listen on alpha's node 3.
	f.CreateCluster(t, framework.NewCluster(third, "gamma", a.Spec.BasePort+3))
	framework.WaitFor(t, 30*time.Second, "gamma refused for its ports", func() (bool, error) {
		rc := f.Cluster(t, third, "gamma")
		ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady)
		return ready != nil && ready.Reason == "PortConflict" && strings.Contains(ready.Message, first+"/alpha"), nil
	})
	pods, err := f.Kube.CoreV1().Pods(third).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, pods.Items, "a refused cluster creates no pod")
	// The others are untouched.
	f.CheckInvariants(t, f.WaitReady(t, first, "alpha", 10*time.Second))
	f.CheckInvariants(t, f.WaitReady(t, second, "beta", 10*time.Second))
}

func TestPersistentMasterComesBackWithItsIdentityAndKeys(t *testing.T) {
	rc := f.ReadyCluster(t, "durable", persistent, framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
		s.ClusterNodeTimeout = ptr.To[int32](15000) // the pod is back long before a failover
	}))
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "durable", 5000)
	framework.WaitAOFWritten(t, rc)

	master := podOfRole(t, rc, redisv1beta1.RoleMaster)
	deletePod(t, ns, master.Pod)
	framework.WaitFor(t, 30*time.Second, "the pod to be replaced", func() (bool, error) {
		pod, err := f.Kube.CoreV1().Pods(ns).Get(context.Background(), master.Pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil, err
	})
	rc = f.WaitReady(t, ns, "durable", time.Minute)
	f.CheckInvariants(t, rc)
	for _, n := range rc.Status.Nodes {
		if n.Pod == master.Pod {
			require.Equal(t, master.NodeID, n.NodeID, "the node kept its id")
			require.Equal(t, redisv1beta1.RoleMaster, n.Role, "no failover happened")
		}
	}
	framework.CheckKeys(t, client, "durable", 5000)
}

// leaveSlotOpen marks slot migrating on its owner and importing on another master, as an
// interrupted migration leaves it.
func leaveSlotOpen(t *testing.T, rc *redisv1beta1.RedisCluster, slot int) {
	t.Helper()
	admin := redisops.NewAdmin("")
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	view := admin.View(ctx, framework.NodeAddrs(rc))
	owners, _ := view.SlotOwners()
	var owner, other *topology.NodeState
	for _, s := range view.Reachable() {
		self, _ := s.Self()
		switch {
		case self.ID == owners[slot]:
			owner = s
		case self.Master() && other == nil:
			other = s
		}
	}
	require.NotNil(t, owner)
	require.NotNil(t, other)
	ownerSelf, _ := owner.Self()
	otherSelf, _ := other.Self()
	require.NoError(t, admin.SetSlot(ctx, other.Addr, slot, "IMPORTING", ownerSelf.ID))
	require.NoError(t, admin.SetSlot(ctx, owner.Addr, slot, "MIGRATING", otherSelf.ID))
}
