package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// A cluster that holds its ports keeps them when an older cluster is scaled into them: the
// scaled cluster's new node on those ports is not created and its condition names the other
// cluster and the port; the other keeps serving and healing.
func TestScaleIntoAnotherClustersPortsIsRefused(t *testing.T) {
	op := f.StartOperator(t)
	older := f.ReadyCluster(t, "older", framework.RunBy(op), framework.Shape(3, 0))
	// The younger cluster starts on the older one's node 5, inside the older one's block.
	clash := older.Spec.BasePort + 5
	y := f.ReadyCluster(t, "younger", framework.RunBy(op),
		framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) { s.BasePort = clash }))
	olderNS, youngerNS := older.Namespace, y.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, y), "younger", 5000)

	// 3x1 needs nodes 0-5 of the older cluster: node 5 would listen on the younger's first port.
	_, err := f.Redis.RedisV1beta1().RedisClusters(olderNS).Patch(context.Background(), "older", types.MergePatchType,
		[]byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	framework.WaitFor(t, time.Minute, "the older cluster's change to be refused for its ports", func() (bool, error) {
		rc := f.Cluster(t, olderNS, "older")
		ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady)
		return ready != nil && ready.Reason == "PortConflict" && strings.Contains(ready.Message, youngerNS+"/younger") &&
			strings.Contains(ready.Message, strconv.Itoa(int(clash))), nil
	})
	_, err = f.Kube.CoreV1().Pods(olderNS).Get(context.Background(), "older-5", metav1.GetOptions{})
	require.Error(t, err, "no pod on the other cluster's ports")

	// The younger cluster keeps its ports: Ready, and it still heals.
	y = f.WaitReady(t, youngerNS, "younger", 10*time.Second)
	deletePod(t, youngerNS, podOfRole(t, y, redisv1beta1.RoleMaster).Pod)
	waitNotReady(t, youngerNS, "younger")
	y = f.WaitReady(t, youngerNS, "younger", time.Minute)
	f.CheckInvariants(t, y)
	framework.CheckKeys(t, framework.ClusterClient(t, y), "younger", 5000)

	// Back to the shape that fits: Ready again.
	_, err = f.Redis.RedisV1beta1().RedisClusters(olderNS).Patch(context.Background(), "older", types.MergePatchType,
		[]byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	f.CheckInvariants(t, f.WaitReady(t, olderNS, "older", 2*time.Minute))
	framework.WaitFor(t, 30*time.Second, "the older cluster's extra pods to be gone", func() (bool, error) {
		return countPods(t, olderNS) == 3, nil
	})
}
