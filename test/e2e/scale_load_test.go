package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/e2e/framework"
)

func TestScaleOutUnderLoadWithABigHashAndAnOperatorCrash(t *testing.T) {
	op := f.StartOperator(t)
	rc := f.ReadyCluster(t, "busy", framework.RunBy(op))
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "loaded", 200000)

	// A 1,000,000-field hash (about 40 MB) in slot 5461, which the first master gives away.
	bigKey := ""
	for i := 0; bigKey == ""; i++ {
		if k := "big:" + strconv.Itoa(i); topology.KeySlot(k) == 5461 {
			bigKey = k
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for start := 0; start < 1000000; start += 20000 {
		fields := make([]interface{}, 0, 40000)
		for i := start; i < start+20000; i++ {
			fields = append(fields, "field-"+strconv.Itoa(i), "value-"+strconv.Itoa(i))
		}
		require.NoError(t, client.HSet(ctx, bigKey, fields...).Err())
	}

	w := framework.StartWriters(client, 8, 200000)
	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(ctx, "busy", types.MergePatchType,
		[]byte(`{"spec":{"masters":4}}`), metav1.PatchOptions{})
	require.NoError(t, err)

	// Kill the operator while slots are moving, then start a new one.
	framework.WaitFor(t, 2*time.Minute, "slots to be moving", func() (bool, error) {
		cur := f.Cluster(t, ns, "busy")
		return cur.Status.Migration != nil && cur.Status.Migration.SlotsDone > 0, nil
	})
	op.Kill()
	f.StartOperator(t)
	rc = f.WaitReady(t, ns, "busy", 5*time.Minute)
	w.Halt()

	require.EqualValues(t, 4, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	client = framework.ClusterClient(t, rc)
	framework.CheckKeys(t, client, "loaded", 200000)
	n, err := client.HLen(ctx, bigKey).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1000000, n, "the big hash moved whole")
	w.CheckAcked(t, client)
	t.Logf("%d writes acknowledged during the scale-out, %d refused", w.Acked(), w.Fails())
	for _, n := range rc.Status.Nodes {
		require.NotEqual(t, "", n.NodeID)
	}
}
