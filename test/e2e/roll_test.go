package e2e

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/tlstest"
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
	requireHandedOverFirst(t, events.Items, masters)
	t.Logf("rolled %d pods in %.1fs; %d writes acknowledged, %d refused, longest wait between two acknowledged writes %v",
		len(before), took.Seconds(), w.Acked(), w.Fails(), w.LongestGap().Round(time.Millisecond))
}

// requireHandedOverFirst fails t unless each master pod's shard was handed over before the pod
// went: an Event "node R takes over from master node N" no later than the Event "replace pod P"
// of its pod (Events carry whole seconds).
func requireHandedOverFirst(t *testing.T, events []corev1.Event, masters map[string]bool) {
	t.Helper()
	handedOver := map[string]metav1.Time{} // master node index -> its first hand-over
	replaced := map[string]metav1.Time{}   // pod -> its first replacement
	first := func(seen map[string]metav1.Time, key string, at metav1.Time) {
		if was, ok := seen[key]; !ok || at.Before(&was) {
			seen[key] = at
		}
	}
	for _, e := range events {
		switch e.Reason {
		case "HandedOverMaster":
			if _, from, ok := strings.Cut(e.Message, "takes over from master node "); ok {
				first(handedOver, strings.TrimRight(strings.Fields(from)[0], ",:"), e.FirstTimestamp)
			}
		case "ReplacedPod":
			if _, pod, ok := strings.Cut(e.Message, "replace pod "); ok {
				first(replaced, strings.Fields(pod)[0], e.FirstTimestamp)
			}
		}
	}
	for pod := range masters {
		index := pod[strings.LastIndex(pod, "-")+1:]
		over, ok := handedOver[index]
		require.True(t, ok, "no Event says master %s (node %s) was handed over: %v", pod, index, handedOver)
		gone, ok := replaced[pod]
		require.True(t, ok, "no Event says pod %s was replaced: %v", pod, replaced)
		require.False(t, gone.Before(&over), "master pod %s was replaced at %s, before its hand-over at %s", pod, gone, over)
	}
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

// The same rolling update on a TLS cluster: the hand-overs, the replicas' syncs and the
// writers all run over TLS.
func TestRollingUpdateOverTLS(t *testing.T) {
	rollUnderLoad(t, f.ReadyCluster(t, "rolled-tls", framework.WithTLS(tlstest.NewCA(t, "roll-ca").ValidNode(t))), 50000)
}
