package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// resourcesPatch changes the Redis container's resources: the pods must be replaced.
const resourcesPatch = `{"spec":{"resources":{"requests":{"cpu":"10m","memory":"32Mi"}}}}`

// rollUnderLoad changes the resources of a Ready cluster with keys and 8 writers, waits for the
// roll to end, and checks that every pod was replaced, no key and no acknowledged write was lost.
func rollUnderLoad(t *testing.T, rc *redisv1beta1.RedisCluster, keys int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns, name := rc.Namespace, rc.Name
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "before", keys)
	before := podUIDs(t, ns, name)
	masters := map[string]bool{}
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleMaster {
			masters[n.Pod] = true
		}
	}

	w := framework.StartWriters(client, 8, 1000000)
	start := time.Now()
	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(ctx, name, types.MergePatchType, []byte(resourcesPatch), metav1.PatchOptions{})
	require.NoError(t, err)
	framework.WaitFor(t, 2*time.Minute, "the roll to start", func() (bool, error) {
		cur := f.Cluster(t, ns, name)
		return meta.IsStatusConditionTrue(cur.Status.Conditions, redisv1beta1.ConditionUpdating), nil
	})
	var rolled *redisv1beta1.RedisCluster
	framework.WaitFor(t, 8*time.Minute, "every pod to be replaced and the cluster Ready", func() (bool, error) {
		cur := f.Cluster(t, ns, name)
		done := cur.Status.ObservedGeneration == cur.Generation && cur.Status.UpdatedNodes == int32(cur.Spec.NodeCount()) &&
			meta.IsStatusConditionFalse(cur.Status.Conditions, redisv1beta1.ConditionUpdating) &&
			meta.IsStatusConditionTrue(cur.Status.Conditions, redisv1beta1.ConditionReady)
		rolled = cur
		return done, nil
	})
	took := time.Since(start)
	w.Halt()

	after := podUIDs(t, ns, name)
	require.Len(t, after, len(before), "the temporary node is gone: %v", after)
	for pod, uid := range before {
		require.NotEqual(t, uid, after[pod], "pod %s was replaced", pod)
	}
	f.CheckInvariants(t, rolled)
	client = framework.ClusterClient(t, rolled)
	framework.CheckKeys(t, client, "before", keys)
	w.CheckAcked(t, client)

	events, err := f.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	require.NoError(t, err)
	counts := map[string]int32{}
	sort.Slice(events.Items, func(i, j int) bool { return events.Items[i].FirstTimestamp.Before(&events.Items[j].FirstTimestamp) })
	for _, e := range events.Items {
		counts[e.Reason] += e.Count
		if e.FirstTimestamp.After(start) {
			t.Logf("%s +%.1fs %s: %s", e.Type, e.FirstTimestamp.Sub(start).Seconds(), e.Reason, e.Message)
		}
	}
	require.GreaterOrEqual(t, counts["ReplacedPod"], int32(len(before)), "an Event per replaced pod: %v", counts)
	require.GreaterOrEqual(t, counts["HandedOverMaster"], int32(len(masters)), "each master handed over before its pod went: %v", counts)
	t.Logf("rolled %d pods in %.1fs; %d writes acknowledged, %d refused, longest wait between two acknowledged writes %v",
		len(before), took.Seconds(), w.Acked(), w.Fails(), w.LongestGap().Round(time.Millisecond))
}

func podUIDs(t testing.TB, ns, name string) map[string]types.UID {
	t.Helper()
	pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
	require.NoError(t, err)
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed {
			out[p.Name] = p.UID
		}
	}
	return out
}

func TestRollingUpdateFailsMastersOverFirst(t *testing.T) {
	rollUnderLoad(t, f.ReadyCluster(t, "rolled"), 50000)
}

func TestRollingUpdateWithoutReplicasUsesATemporaryOne(t *testing.T) {
	rollUnderLoad(t, f.ReadyCluster(t, "bare", framework.Shape(3, 0)), 20000)
}
