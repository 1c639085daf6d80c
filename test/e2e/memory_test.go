package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// A scale-in whose remaining masters could not hold the keys within maxmemory is refused before a
// slot moves: the cluster keeps its masters and every key, and its Scaling condition gives the
// figures; scaling back to the masters it has makes it Ready again.
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

	patchMasters(t, ns, "tight", "4")
	rc = f.WaitReady(t, ns, "tight", time.Minute)
	f.CheckInvariants(t, rc)
}
