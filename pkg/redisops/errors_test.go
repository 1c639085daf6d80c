package redisops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/redistest"
)

// TestRedisErrorsAreTold provokes each error reply the operator acts on from a real server and
// checks that exactly its test tells it, also through wrapping.
func TestRedisErrorsAreTold(t *testing.T) {
	servers := redistest.StartServers(t, 3, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	one, two := servers[0], servers[1]
	require.NoError(t, admin.AddSlotsRange(ctx, one.Addr, []topology.SlotRange{{Start: 0, End: topology.SlotCount - 1}}))
	redistest.WaitFor(t, ctx, "the single node cluster to be ok", func() bool {
		return admin.View(ctx, []string{one.Addr}).Nodes[one.Addr].StateOK()
	})

	tells := map[string]func(error) bool{
		"unknown node": redisops.IsUnknownNode, "not master": redisops.IsNotMaster,
		"busy key": redisops.IsBusyKey, "cluster down": redisops.IsClusterDown,
	}
	provoked := map[string]error{
		"unknown node": admin.Forget(ctx, one.Addr, "0123456789012345678901234567890123456789"),
		"cluster down": admin.Client(two.Addr).Set(ctx, "k", "v", 0).Err(),
	}
	// BUSYKEY: the key exists on both sides of a MIGRATE without REPLACE. Slot 0 is importing on
	// two so that it accepts a key of a slot it does not own.
	key := keysInSlot(0, 1)[0]
	oneID := selfID(t, ctx, admin, one.Addr)
	require.NoError(t, admin.Meet(ctx, two.Addr, "127.0.0.1", one.Port, one.Port+10000))
	redistest.WaitFor(t, ctx, "the nodes to meet", func() bool {
		state := admin.View(ctx, []string{two.Addr}).Nodes[two.Addr]
		peer, ok := state.Peer(oneID)
		return ok && peer.Usable() && state.StateOK()
	})
	require.NoError(t, admin.Client(one.Addr).Set(ctx, key, "v", 0).Err())
	require.NoError(t, admin.SetSlot(ctx, two.Addr, 0, "IMPORTING", oneID))
	migrate := func() error {
		return admin.Client(one.Addr).Do(ctx, "MIGRATE", "127.0.0.1", two.Port, "", 0, 1000, "COPY", "KEYS", key).Err()
	}
	require.NoError(t, migrate())
	provoked["busy key"] = migrate()
	// A replica refuses SETSLOT: servers[2] replicates one.
	third := servers[2]
	require.NoError(t, admin.Meet(ctx, third.Addr, "127.0.0.1", one.Port, one.Port+10000))
	redistest.WaitFor(t, ctx, "the third node to take a master", func() bool {
		return admin.Replicate(ctx, third.Addr, oneID) == nil
	})
	provoked["not master"] = admin.SetSlot(ctx, third.Addr, 0, "NODE", oneID)

	for name, err := range provoked {
		require.Error(t, err, name)
		wrapped := errors.Join(errors.New("context"), err)
		for other, tell := range tells {
			require.Equal(t, other == name, tell(err), "%s told as %s: %v", name, other, err)
			require.Equal(t, other == name, tell(wrapped), "wrapped %s told as %s", name, other)
		}
	}
	require.False(t, redisops.IsUnknownNode(errors.New("ERR Unknown node, but not from Redis")))
}
