package redisops_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/redistest"
)

// TestKeySlotAgreesWithRedis compares KeySlot with CLUSTER KEYSLOT of a real server, hash tags
// and their corner cases included.
func TestKeySlotAgreesWithRedis(t *testing.T) {
	server := redistest.StartServers(t, 1, redistest.Options{})[0]
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	keys := []string{"", "foo", "bar", "somekey", "user1000", "{user1000}.following", "{}x", "x", "{", "}", "{}",
		"a{b}c", "a{}b{c}", "{a}{b}", "{{a}}", "a{b", "é", "\x00\xff"}
	for i := 0; i < 500; i++ {
		keys = append(keys, "key:"+strconv.Itoa(i), "{tag"+strconv.Itoa(i%7)+"}:"+strconv.Itoa(i))
	}
	for _, k := range keys {
		want, err := admin.Client(server.Addr).ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err, "%q", k)
		require.EqualValues(t, want, topology.KeySlot(k), "key %q", k)
	}
}
