package e2e

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// A shrink converges when failovers left a master at an index being removed: 3 masters x 2
// replicas, a replica at index 6 or above made master by hand, then replicas: 1.
func TestShrinkWithAMasterAtARemovedIndex(t *testing.T) {
	rc := f.ReadyCluster(t, "shrink", framework.Shape(3, 2))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "shrink", 20000)

	var promoted redisv1beta1.NodeStatus
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleReplica && n.Port >= rc.Spec.BasePort+6 {
			promoted = n
			break
		}
	}
	require.NotEmpty(t, promoted.Pod, "a replica at index 6 or above: %+v", rc.Status.Nodes)
	// The shrink follows at once: left alone, a promoted node sharing a Kubernetes node with
	// another master is handed back by the spread before the shrink is asked for.
	framework.PromoteReplica(t, net.JoinHostPort(promoted.IP, strconv.Itoa(int(promoted.Port))))
	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), "shrink", types.MergePatchType,
		[]byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	rc = f.WaitWhole(t, ns, "shrink", 2*time.Minute)
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	require.EqualValues(t, 3, rc.Status.ReadyReplicas)
	framework.WaitFor(t, 30*time.Second, "exactly the wanted pods", func() (bool, error) {
		return countPods(t, ns) == 6, nil
	})
	for _, n := range rc.Status.Nodes {
		require.False(t, strings.HasSuffix(n.Pod, "-6") || strings.HasSuffix(n.Pod, "-7") || strings.HasSuffix(n.Pod, "-8"), n.Pod)
	}
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "shrink", 20000)
}
