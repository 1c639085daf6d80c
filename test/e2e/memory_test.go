package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// mastersKeepTheirBudget checks that each of the cluster's masters pods, all of which own slots, is
// refused eviction (dry run) once the masters' budget has seen them all.
func mastersKeepTheirBudget(t *testing.T, ns, name string, masters int) {
	t.Helper()
	ctx := context.Background()
	framework.WaitFor(t, 30*time.Second, "the masters' budget to count every master", func() (bool, error) {
		b, err := f.Kube.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name+"-masters", metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.CurrentHealthy == int32(masters), err
	})
	pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name + ",redis.redis/role=master"})
	require.NoError(t, err)
	require.Len(t, pods.Items, masters)
	for _, p := range pods.Items {
		err := f.Kube.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns},
			DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}})
		require.True(t, apierrors.IsTooManyRequests(err), "evicting master pod %s is refused: %v", p.Name, err)
	}
}

// A scale-in whose remaining masters could not hold the keys within maxmemory is refused before a
// slot moves: the cluster keeps its masters and every key, and its Scaling condition gives the
// figures, and every master, all still owning slots, stays covered by the masters' budget;
// scaling back to the masters it has makes it Ready again.
func TestScaleInThatDoesNotFitInMemoryIsRefused(t *testing.T) {
	rc := f.ReadyCluster(t, "tight", framework.Shape(4, 0),
		framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) { s.MaxMemory = "16mb" }))
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	// About 12 MB of values on each master: 75% of maxmemory now, over 90% on three.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	value := strings.Repeat("v", 4000)
	const keys = 12000
	for start := 0; start < keys; start += 500 {
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < start+500; i++ {
				p.Set(ctx, "tight:"+strconv.Itoa(i), value, 0)
			}
			return nil
		})
		require.NoError(t, err)
	}

	patchMasters(t, ns, "tight", "3")
	framework.WaitFor(t, time.Minute, "the scale-in to be refused", func() (bool, error) {
		cur := f.Cluster(t, ns, "tight")
		scaling := meta.FindStatusCondition(cur.Status.Conditions, redisv1beta1.ConditionScaling)
		return scaling != nil && scaling.Reason == "NotEnoughMemory" && strings.Contains(scaling.Message, "MiB maxmemory"), nil
	})
	cur := f.Cluster(t, ns, "tight")
	t.Logf("refused: %s", meta.FindStatusCondition(cur.Status.Conditions, redisv1beta1.ConditionScaling).Message)
	require.EqualValues(t, 4, cur.Status.ReadyMasters, "no slot moved")
	require.Nil(t, cur.Status.Migration)
	for i := 0; i < keys; i += 97 {
		v, err := client.Get(ctx, "tight:"+strconv.Itoa(i)).Result()
		require.NoError(t, err)
		require.Equal(t, value, v)
	}
	mastersKeepTheirBudget(t, ns, "tight", 4)

	patchMasters(t, ns, "tight", "4")
	rc = f.WaitReady(t, ns, "tight", time.Minute)
	f.CheckInvariants(t, rc)
}
