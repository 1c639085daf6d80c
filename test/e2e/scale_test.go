package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"redis-operator/test/e2e/framework"
)

func patchMasters(t *testing.T, ns, name, masters string) {
	t.Helper()
	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), name, types.MergePatchType,
		[]byte(`{"spec":{"masters":`+masters+`}}`), metav1.PatchOptions{})
	require.NoError(t, err)
}

func countPods(t *testing.T, ns string) int {
	pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return len(pods.Items)
}

func TestMastersScaleOutAndInWithoutLosingKeys(t *testing.T) {
	rc := f.ReadyCluster(t, "elastic")
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "elastic", 20000)

	patchMasters(t, ns, "elastic", "4")
	rc = f.WaitReady(t, ns, "elastic", 3*time.Minute)
	require.EqualValues(t, 4, rc.Status.ReadyMasters)
	require.NotNil(t, rc.Status.LastScaleTime)
	require.Nil(t, rc.Status.Migration, "no migration is left recorded once done")
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, client, "elastic", 20000)

	patchMasters(t, ns, "elastic", "3")
	rc = f.WaitReady(t, ns, "elastic", 3*time.Minute)
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	// A client that knew the removed nodes keeps dialing them; start from the current ones.
	client = framework.ClusterClient(t, rc)
	framework.CheckKeys(t, client, "elastic", 20000)
	framework.WaitFor(t, 30*time.Second, "the removed nodes' pods to be gone", func() (bool, error) {
		return countPods(t, ns) == 6, nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := f.Kubectl(ctx, "-n", ns, "scale", "rdc/elastic", "--replicas=5")
	require.NoError(t, err, out)
	rc = f.WaitReady(t, ns, "elastic", 3*time.Minute)
	require.EqualValues(t, 5, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "elastic", 20000)
}

func TestMastersInAndReplicasUpAtOnce(t *testing.T) {
	rc := f.ReadyCluster(t, "reshape", framework.Shape(4, 0))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "reshape", 20000)

	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), "reshape", types.MergePatchType,
		[]byte(`{"spec":{"masters":3,"replicas":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	rc = f.WaitReady(t, ns, "reshape", 3*time.Minute)
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	require.EqualValues(t, 3, rc.Status.ReadyReplicas)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "reshape", 20000)
	framework.WaitFor(t, 30*time.Second, "exactly the wanted pods", func() (bool, error) {
		return countPods(t, ns) == 6, nil
	})
}
