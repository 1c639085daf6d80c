package redisops_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/redistest"
)

// The estimate of what a node's slots hold is within a few percent of the memory their keys
// took, never well below it: keys crowded into two slots by hash tags, some expiring, and many
// small keys whose per-key overhead outweighs their values. Spreading the node's dataset memory
// evenly over its slots, as the operator once did, gives the two crowded slots almost nothing.
func TestSlotMemoryEstimatesWhatTheKeysTake(t *testing.T) {
	server := redistest.StartServers(t, 1, redistest.Options{})[0]
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, admin.AddSlotsRange(ctx, server.Addr, topology.EvenSplit(1)))
	redistest.WaitFor(t, ctx, "the node to count the cluster ok", func() bool {
		return admin.View(ctx, []string{server.Addr}).Nodes[server.Addr].StateOK()
	})
	client := admin.Client(server.Addr)
	used := func() (usedBytes, datasetBytes int64) {
		state := admin.View(ctx, []string{server.Addr}).Nodes[server.Addr]
		require.NoError(t, state.Err)
		return state.UsedBytes(), state.DatasetBytes()
	}
	before, _ := used()

	tags := []string{"{crowd-a}", "{crowd-b}"}
	hot := map[int]bool{topology.KeySlot(tags[0]): true, topology.KeySlot(tags[1]): true}
	require.Len(t, hot, 2, "two crowded slots")
	value := strings.Repeat("v", 2000)
	const crowded, small = 3000, 20000
	write := func(n int, set func(p redis.Pipeliner, i int)) {
		for start := 0; start < n; start += 1000 {
			_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < min(start+1000, n); i++ {
					set(p, i)
				}
				return nil
			})
			require.NoError(t, err)
		}
	}
	write(crowded, func(p redis.Pipeliner, i int) {
		ttl := time.Duration(0)
		if i%2 == 0 {
			ttl = time.Hour
		}
		p.Set(ctx, tags[i%2]+":"+strconv.Itoa(i), value, ttl)
	})
	write(small, func(p redis.Pipeliner, i int) { p.Set(ctx, "small:"+strconv.Itoa(i), "ten bytes.", 0) })
	after, dataset := used()

	slots := make([]int, topology.SlotCount)
	for i := range slots {
		slots[i] = i
	}
	est, err := admin.SlotMemory(ctx, server.Addr, slots)
	require.NoError(t, err)
	var total, hotBytes int64
	for slot, b := range est.Bytes {
		total += b
		if hot[slot] {
			hotBytes += b
		}
	}
	growth := after - before
	t.Logf("keys took %d bytes (used_memory); estimated %d (%.1f%%) from %d keys counted, %d sized; crowded slots %d",
		growth, total, 100*float64(total)/float64(growth), est.Keys, est.Sampled, hotBytes)
	require.EqualValues(t, crowded+small, est.Keys)
	require.Len(t, est.Bytes, topology.SlotCount, "every slot asked is counted")
	require.LessOrEqual(t, est.Sampled, 128*8, "a bounded sample")
	require.GreaterOrEqual(t, float64(total), 0.95*float64(growth), "not optimistic")
	require.LessOrEqual(t, float64(total), 1.15*float64(growth), "not far above")
	require.Greater(t, hotBytes, int64(crowded*len(value)), "the crowded slots hold their values and more")
	spread := float64(dataset) * 2 / topology.SlotCount
	require.Less(t, 100*spread, float64(hotBytes), "dataset memory spread evenly gives them %.0f bytes", spread)
}
