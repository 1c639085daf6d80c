package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/e2e/framework"
)

// Keys are rarely spread evenly over slots: hash tags put related keys in one slot. A scale-in
// that would hand a few crowded slots to one master, filling it past the limit, is refused
// before a slot moves, even though the drained master's memory spread over its slots would fit;
// the refusal says how the estimate was made. The cluster keeps every key and becomes Ready
// again at the masters it has.
func TestScaleInOfSlotsCrowdedByHashTagsIsRefused(t *testing.T) {
	rc := f.ReadyCluster(t, "crowded", framework.Shape(4, 0),
		framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) { s.MaxMemory = "32mb" }))
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)

	// A scale-in to 3 drains node 3 and gives its lowest slots to node 0.
	var drained redisv1beta1.NodeStatus
	for _, n := range rc.Status.Nodes {
		if n.Pod == "crowded-3" {
			drained = n
		}
	}
	require.NotEmpty(t, drained.Slots, "node 3 owns slots: %+v", rc.Status.Nodes)
	first, err := topology.ParseSlotRange(drained.Slots[0])
	require.NoError(t, err)
	hot := map[int]bool{first.Start: true, first.Start + 1: true, first.Start + 2: true}

	// About 8 MiB of values on every master, and 18 MiB more under three hash tags in node 3's
	// hot slots: node 3 is at 85% of maxmemory, and node 0 would be past 90% with them, while
	// node 3's data spread evenly over its 4096 slots would bring node 0 to under 60%.
	value := strings.Repeat("v", 4000)
	even := make([]string, 8000)
	for i := range even {
		even[i] = "even:" + strconv.Itoa(i)
	}
	var tags []string
	for n := 0; n < 1_000_000 && len(tags) < len(hot); n++ {
		tag := fmt.Sprintf("{hot%d}", n)
		if hot[topology.KeySlot(tag)] {
			hot[topology.KeySlot(tag)] = false // one tag per slot
			tags = append(tags, tag)
		}
	}
	require.Len(t, tags, 3, "a hash tag for each hot slot")
	var crowded []string
	for i := 0; i < 4500; i++ {
		crowded = append(crowded, tags[i%len(tags)]+":"+strconv.Itoa(i))
	}
	setValues(t, client, even, value)
	setValues(t, client, crowded, value)

	require.Nil(t, f.Cluster(t, ns, "crowded").Status.LastMigration, "no slot moved yet")
	patchMasters(t, ns, "crowded", "3")
	var cur *redisv1beta1.RedisCluster
	framework.WaitFor(t, time.Minute, "the scale-in to be refused or to start", func() (bool, error) {
		cur = f.Cluster(t, ns, "crowded")
		scaling := meta.FindStatusCondition(cur.Status.Conditions, redisv1beta1.ConditionScaling)
		refused := scaling != nil && scaling.Reason == "NotEnoughMemory"
		return refused || cur.Status.Migration != nil || cur.Status.LastMigration != nil, nil
	})
	require.Nil(t, cur.Status.Migration, "slots started to move")
	require.Nil(t, cur.Status.LastMigration, "slots moved")
	why := meta.FindStatusCondition(cur.Status.Conditions, redisv1beta1.ConditionScaling).Message
	t.Logf("refused: %s", why)
	require.Contains(t, why, "node 0 would use", "the master that would take the hot slots")
	require.Contains(t, why, "key counts", "the refusal names how it estimated")
	require.EqualValues(t, 4, cur.Status.ReadyMasters, "no slot moved")
	checkValues(t, client, even, value)
	checkValues(t, client, crowded, value)

	patchMasters(t, ns, "crowded", "4")
	rc = f.WaitReady(t, ns, "crowded", time.Minute)
	f.CheckInvariants(t, rc)
}

// setValues writes value under every key, in pipelined batches.
func setValues(t *testing.T, client *redis.ClusterClient, keys []string, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				p.Set(ctx, k, value, 0)
			}
			return nil
		})
		require.NoError(t, err)
	}
}

// checkValues reads every key back, in pipelined batches, and requires value under each.
func checkValues(t *testing.T, client *redis.ClusterClient, keys []string, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		cmds, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				p.Get(ctx, k)
			}
			return nil
		})
		require.NoError(t, err)
		for i, cmd := range cmds {
			require.Equal(t, value, cmd.(*redis.StringCmd).Val(), "key %s", batch[i])
		}
	}
}
