package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/sandbox"
)

func TestPersistenceTurnedOnThenGrown(t *testing.T) {
	rc := f.ReadyCluster(t, "kept")
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	ctx := context.Background()

	// Persistence on: every pod is rolled onto a claim of its own.
	patchCluster(t, ns, "kept", `{"spec":{"persistence":{"enabled":true,"size":"1Gi"}}}`)
	var claimed map[string]string
	framework.WaitFor(t, 5*time.Minute, "every pod to run on its claim", func() (bool, error) {
		cur := f.Cluster(t, ns, "kept")
		pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=kept"})
		if err != nil || cur.Status.UpdatedNodes != int32(cur.Spec.NodeCount()) || len(pods.Items) != cur.Spec.NodeCount() {
			return false, err
		}
		claimed = map[string]string{}
		for _, p := range pods.Items {
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					claimed[p.Name] = v.PersistentVolumeClaim.ClaimName
				}
			}
		}
		return len(claimed) == cur.Spec.NodeCount(), nil
	})
	rc = f.WaitReady(t, ns, "kept", 2*time.Minute)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	before := podUIDs(t, ns, "kept")

	// A larger size grows the claims in place: no pod is replaced.
	patchCluster(t, ns, "kept", `{"spec":{"persistence":{"enabled":true,"size":"2Gi"}}}`)
	want := resource.MustParse("2Gi")
	framework.WaitFor(t, 2*time.Minute, "every claim to grow", func() (bool, error) {
		for _, name := range claimed {
			claim, err := f.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if got := claim.Status.Capacity[corev1.ResourceStorage]; got.Cmp(want) != 0 {
				return false, nil
			}
		}
		return true, nil
	})
	rc = f.WaitReady(t, ns, "kept", time.Minute)
	require.Equal(t, before, podUIDs(t, ns, "kept"), "claims grow without a new pod")
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
}

// TestRefusedClaimExpansionLeavesHealingAlone raises the size of claims whose storage class cannot
// expand: the API server refuses, which the cluster says in an Event and its Ready condition, and
// a lost replica's pod is still created again meanwhile.
func TestRefusedClaimExpansionLeavesHealingAlone(t *testing.T) {
	const keys = 5000
	rc := f.ReadyCluster(t, "fixed", framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
		s.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true, StorageClass: ptr.To(sandbox.FixedSizeStorageClassName)}
	}))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "fixed", keys)

	patchCluster(t, ns, "fixed", `{"spec":{"persistence":{"size":"2Gi"}}}`)
	framework.WaitFor(t, time.Minute, "the API server to refuse the larger claims", func() (bool, error) {
		return eventsSaying(t, ns, "fixed", "cannot grow to 2Gi") > 0, nil
	})

	replica := podOfRole(t, rc, redisv1beta1.RoleReplica)
	old := getPod(t, ns, replica.Pod)
	deletePod(t, ns, replica.Pod)
	waitReplaced(t, ns, replica.Pod, old.UID, time.Minute)
	framework.WaitFor(t, time.Minute, "every node back, the refusal in the Ready condition", func() (bool, error) {
		rc = f.Cluster(t, ns, "fixed")
		ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady)
		if ready == nil || rc.Status.ObservedGeneration != rc.Generation {
			return false, nil
		}
		return ready.Status == metav1.ConditionFalse && ready.Reason == "ClaimNotExpanded" &&
				rc.Status.ReadyMasters == rc.Spec.Masters && rc.Status.ReadyReplicas == rc.Spec.Masters*rc.Spec.Replicas,
			fmt.Errorf("Ready=%s %s: %s; %d masters and %d replicas ready", ready.Status, ready.Reason, ready.Message,
				rc.Status.ReadyMasters, rc.Status.ReadyReplicas)
	})
	f.CheckInvariants(t, rc)

	// The size the claims have is Ready again.
	patchCluster(t, ns, "fixed", `{"spec":{"persistence":{"size":"1Gi"}}}`)
	rc = f.WaitReady(t, ns, "fixed", time.Minute)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "fixed", keys)
}

// TestPersistenceOffThenOnStartsNoNodeAsItsFormerSelf turns persistence on, off and on again:
// the claims of the first time hold a nodes.conf and an AOF of nodes the cluster has since
// forgotten, and no node may start from them. Every key written in either time is kept.
func TestPersistenceOffThenOnStartsNoNodeAsItsFormerSelf(t *testing.T) {
	const keys = 5000
	rc := f.ReadyCluster(t, "onoff", persistent)
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "first", keys)
	framework.WaitAOFWritten(t, rc)
	former := map[string]string{}
	for _, n := range rc.Status.Nodes {
		former[n.NodeID] = n.Pod
	}

	patchCluster(t, ns, "onoff", `{"spec":{"persistence":{"enabled":false}}}`)
	rc = waitRolledOntoClaims(t, ns, "onoff", false)
	framework.WaitFor(t, time.Minute, "the claims no pod uses any more to go", func() (bool, error) {
		claims, err := f.Kube.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(claims.Items) > 0 {
			return false, fmt.Errorf("%d claims left (%v)", len(claims.Items), err)
		}
		return true, nil
	})
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "first", keys)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "second", keys)

	patchCluster(t, ns, "onoff", `{"spec":{"persistence":{"enabled":true}}}`)
	rc = waitRolledOntoClaims(t, ns, "onoff", true)
	f.CheckInvariants(t, rc)
	for _, n := range rc.Status.Nodes {
		pod, seen := former[n.NodeID]
		require.False(t, seen, "%s runs as node %s, which %s was before persistence was turned off", n.Pod, n.NodeID, pod)
	}
	c := framework.ClusterClient(t, rc)
	framework.CheckKeys(t, c, "first", keys)
	framework.CheckKeys(t, c, "second", keys)
}

// waitRolledOntoClaims waits until every pod of the cluster is built from its spec and runs on a
// claim (or, with onClaims false, on none), and the cluster is Ready.
func waitRolledOntoClaims(t *testing.T, ns, name string, onClaims bool) *redisv1beta1.RedisCluster {
	t.Helper()
	framework.WaitFor(t, 5*time.Minute, fmt.Sprintf("every pod to be rolled (on claims: %t)", onClaims), func() (bool, error) {
		cur := f.Cluster(t, ns, name)
		pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
		if err != nil || cur.Status.ObservedGeneration != cur.Generation || cur.Status.UpdatedNodes != int32(cur.Spec.NodeCount()) ||
			len(pods.Items) != cur.Spec.NodeCount() {
			return false, err
		}
		for _, p := range pods.Items {
			claimed := false
			for _, v := range p.Spec.Volumes {
				claimed = claimed || v.PersistentVolumeClaim != nil
			}
			if claimed != onClaims {
				return false, fmt.Errorf("pod %s on a claim: %t", p.Name, claimed)
			}
		}
		return true, nil
	})
	return f.WaitReady(t, ns, name, 2*time.Minute)
}
