package redisops_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/test/redistest"
)

// Counters incremented by clients all through an out-of-memory rollback end
// at the number of increments acknowledged. While keys go back to their owner, a client must find
// each where it is: an INCR the owner answered for a key still on the target would create a
// fresh counter that wins over the returning one.
func TestRollbackKeepsEveryAcknowledgedIncrement(t *testing.T) {
	admin, servers, ctx := newCluster(t, 2, 2)
	source, target := servers[0], servers[1]
	const slot = 100
	keys := keysInSlot(slot, 2100)
	counters, fillers := keys[:100], keys[100:]
	value := strings.Repeat("x", 4096)
	_, err := admin.Client(source.Addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range counters {
			p.Set(ctx, k, "0", 0)
		}
		for _, k := range fillers {
			p.Set(ctx, k, value, 0)
		}
		return nil
	})
	require.NoError(t, err)
	// A move cut off half-way: the counters and half the fillers reached the target, which then
	// has room for little more.
	require.NoError(t, admin.SetSlot(ctx, target.Addr, slot, "IMPORTING", selfID(t, ctx, admin, source.Addr)))
	require.NoError(t, admin.SetSlot(ctx, source.Addr, slot, "MIGRATING", selfID(t, ctx, admin, target.Addr)))
	moved := append(append([]string(nil), counters...), fillers[:1000]...)
	for start := 0; start < len(moved); start += 200 {
		migrateKeys(t, ctx, admin, source, target, moved[start:min(start+200, len(moved))])
	}
	used := admin.View(ctx, []string{target.Addr}).Nodes[target.Addr].UsedBytes()
	require.NoError(t, admin.Client(target.Addr).ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+(1<<20), 10)).Err())

	// Clients increment every counter over and over, counting the replies that say done.
	clients := startIncrementers(ctx, redistest.ClusterClient(t, servers), counters)
	redistest.WaitFor(t, ctx, "clients to be incrementing", func() bool { return clients.total() > 200 })

	what, err := admin.RepairOpenSlot(ctx, admin.View(ctx, redistest.Addrs(servers)), slot, source.Addr)
	clients.halt()
	require.NoError(t, err)
	require.False(t, what.Finished, "rolled back: %+v", what)
	require.True(t, what.OutOfMemory, "the target was out of memory: %+v", what)
	view := admin.View(ctx, redistest.Addrs(servers))
	require.Empty(t, view.OpenSlots())
	n, err := admin.CountKeysInSlot(ctx, target.Addr, slot)
	require.NoError(t, err)
	require.Zero(t, n, "no stale copy is left on the former target")

	wrong := clients.wrong(t, ctx, admin, source.Addr, 0)
	t.Logf("%d increments acknowledged; %d keys went back", clients.total(), what.Keys)
	require.Empty(t, wrong, "counters that lost acknowledged increments")
	for _, k := range fillers {
		v, err := admin.Client(source.Addr).Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, value, v)
	}
}
