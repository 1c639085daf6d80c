package redisops_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
)

// incrementers are 4 client loops (at most 5000 rounds each) that INCR every counter over and
// over, counting for each counter the replies that said done.
type incrementers struct {
	counters []string
	acked    []atomic.Int64
	stop     atomic.Bool
	wg       sync.WaitGroup
}

func startIncrementers(ctx context.Context, client *redis.ClusterClient, counters []string) *incrementers {
	in := &incrementers{counters: counters, acked: make([]atomic.Int64, len(counters))}
	for range 4 {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			for round := 0; round < 5000 && !in.stop.Load() && ctx.Err() == nil; round++ {
				for i, k := range counters {
					if client.Incr(ctx, k).Err() == nil {
						in.acked[i].Add(1)
					}
				}
			}
		}()
	}
	return in
}

// total is the number of increments acknowledged so far.
func (in *incrementers) total() int64 {
	var n int64
	for i := range in.acked {
		n += in.acked[i].Load()
	}
	return n
}

// halt stops the loops and waits for them.
func (in *incrementers) halt() {
	in.stop.Store(true)
	in.wg.Wait()
}

// wrong lists the counters whose value on addr is not start plus the increments acknowledged.
func (in *incrementers) wrong(t *testing.T, ctx context.Context, admin *redisops.Admin, addr string, start int64) []string {
	t.Helper()
	var out []string
	for i, k := range in.counters {
		v, err := admin.Client(addr).Get(ctx, k).Int64()
		require.NoError(t, err, k)
		if v != start+in.acked[i].Load() {
			out = append(out, fmt.Sprintf("%s=%d acked %d", k, v, in.acked[i].Load()))
		}
	}
	return out
}

// quietCluster starts n servers whose node timeout is long enough that Redis itself never fails
// a master over, and forms the first formed of them into a cluster with masters masters.
func quietCluster(t *testing.T, n, formed, masters int) (*redisops.Admin, []*redistest.Server, context.Context) {
	servers := redistest.StartServers(t, n, redistest.Options{NodeTimeout: 60000})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers[:formed], masters)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return admin, servers, ctx
}

// migrateKeys moves keys from one server to another with one MIGRATE.
func migrateKeys(t *testing.T, ctx context.Context, admin *redisops.Admin, from, to *redistest.Server, keys []string) {
	t.Helper()
	args := []interface{}{"MIGRATE", "127.0.0.1", to.Port, "", 0, 5000, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	require.NoError(t, admin.Client(from.Addr).Do(ctx, args...).Err())
}

// requireValues checks that addr serves each key with the value "v-" + key.
func requireValues(t *testing.T, ctx context.Context, admin *redisops.Admin, addr string, keys []string) {
	t.Helper()
	for _, k := range keys {
		v, err := admin.Client(addr).Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, "v-"+k, v)
	}
}
