package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/e2e/framework"
)

// TestOpenSlotRepairsRunOffTheWorker: one cluster has 50 open slots of 10,000 keys each, another
// loses a master, and the operator has a single worker. Moving the open slots' keys is the
// first cluster's task, seen in its status.migration, not a sync's; the worker goes on healing
// the second meanwhile. How much of the repair was left when the second was Ready is logged.
func TestOpenSlotRepairsRunOffTheWorker(t *testing.T) {
	const slots, perSlot = 50, 10000
	op := f.StartOperator(t, "--workers", "1")
	opened := f.ReadyCluster(t, "opened", framework.RunBy(op), framework.Shape(3, 0))
	healed := f.ReadyCluster(t, "healed", framework.RunBy(op), framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
		s.ClusterNodeTimeout = ptr.To[int32](2000)
	}))
	tags := slotTags(slots)
	writeTagged(t, framework.ClusterClient(t, opened), tags, perSlot)

	// Every slot is opened while no operator runs, so that the next one finds them all at once.
	op.Kill()
	for _, tag := range tags {
		leaveSlotOpen(t, opened, topology.KeySlot(tag))
	}
	f.StartOperator(t, "--workers", "1")
	lost := podOfRole(t, healed, redisv1beta1.RoleMaster)
	deletePod(t, healed.Namespace, lost.Pod)
	start := time.Now()

	admin := redisops.NewAdmin("")
	defer admin.Close()
	openLeft, taskSeen := -1, false
	framework.WaitFor(t, 5*time.Minute, "the lost master healed", func() (bool, error) {
		if m := f.Cluster(t, opened.Namespace, opened.Name).Status.Migration; m != nil && m.SlotsPlanned > 0 {
			taskSeen = true
		}
		cur := f.Cluster(t, healed.Namespace, healed.Name)
		n, _ := nodeStatus(cur, lost.Pod)
		if n.NodeID == "" || n.NodeID == lost.NodeID || !meta.IsStatusConditionTrue(cur.Status.Conditions, redisv1beta1.ConditionReady) {
			return false, fmt.Errorf("%s is %+v", lost.Pod, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		openLeft = len(admin.View(ctx, framework.NodeAddrs(opened)).OpenSlots())
		return true, nil
	})
	t.Logf("the lost master healed %s after its pod was deleted; %d of %d slots of the other cluster were still open", time.Since(start).Round(time.Millisecond), openLeft, slots)

	rc := f.WaitReady(t, opened.Namespace, opened.Name, 5*time.Minute)
	t.Logf("every open slot repaired %s after the restart", time.Since(start).Round(time.Millisecond))
	events, err := f.Kube.CoreV1().Events(opened.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + opened.Name})
	require.NoError(t, err)
	for _, e := range events.Items {
		if e.LastTimestamp.After(start) {
			t.Logf("%s %s x%d: %.200s", e.LastTimestamp.Format("15:04:05"), e.Reason, e.Count, e.Message)
		}
	}
	require.True(t, taskSeen, "the repairs ran as the cluster's task, in its status.migration")
	requireTagged(t, framework.ClusterClient(t, rc), tags, perSlot)
	f.CheckInvariants(t, rc)
	f.CheckInvariants(t, f.Cluster(t, healed.Namespace, healed.Name))
}

// slotTags returns n hash tags, each of another slot.
func slotTags(n int) []string {
	seen := map[int]bool{}
	var out []string
	for i := 0; len(out) < n; i++ {
		tag := "{repair" + strconv.Itoa(i) + "}"
		if slot := topology.KeySlot(tag); !seen[slot] {
			seen[slot] = true
			out = append(out, tag)
		}
	}
	return out
}

// writeTagged writes perTag keys tag:i = i under every tag.
func writeTagged(t *testing.T, c *redis.ClusterClient, tags []string, perTag int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, tag := range tags {
		for start := 0; start < perTag; start += 1000 {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < min(start+1000, perTag); i++ {
					p.Set(ctx, tag+":"+strconv.Itoa(i), i, 0)
				}
				return nil
			})
			require.NoError(t, err, "writing keys of %s", tag)
		}
	}
}

// requireTagged fails t unless every key writeTagged wrote reads back.
func requireTagged(t *testing.T, c *redis.ClusterClient, tags []string, perTag int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	missing := 0
	for _, tag := range tags {
		for start := 0; start < perTag; start += 1000 {
			cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < min(start+1000, perTag); i++ {
					p.Get(ctx, tag+":"+strconv.Itoa(i))
				}
				return nil
			})
			if err != nil && err != redis.Nil {
				require.NoError(t, err, "reading keys of %s", tag)
			}
			for i, cmd := range cmds {
				if v, err := cmd.(*redis.StringCmd).Result(); err != nil || v != strconv.Itoa(start+i) {
					missing++
				}
			}
		}
	}
	require.Zero(t, missing, "of %d keys", len(tags)*perTag)
}
