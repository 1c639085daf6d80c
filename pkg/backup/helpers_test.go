package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// testValue is the value the tests write under key: size letters drawn from a generator seeded
// by the key, so that values differ and RDB compression cannot shrink them much.
func testValue(key string, size int) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(size)))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	b := make([]byte, size)
	for i := 0; i < size; i += 8 {
		r := rng.Uint64()
		for j := i; j < min(i+8, size); j++ {
			b[j] = letters[r&63]
			r >>= 6
		}
	}
	return string(b)
}

// fillKeys writes n keys named prefix:i through c (a cluster or node client), each with its
// testValue of valueSize bytes, in pipelines.
func fillKeys(t testing.TB, c redis.Cmdable, prefix string, n, valueSize int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Pipelines of about 4 MB.
	batch := max(1, min(1000, (4<<20)/max(1, valueSize)))
	for start := 0; start < n; start += batch {
		pipe := c.Pipeline()
		for i := start; i < min(start+batch, n); i++ {
			key := prefix + ":" + strconv.Itoa(i)
			pipe.Set(ctx, key, testValue(key, valueSize), 0)
		}
		_, err := pipe.Exec(ctx)
		require.NoError(t, err)
	}
}

// startSingleNodeCluster starts one cluster-enabled node that owns every slot, so that a plain
// client can write any key to it.
func startSingleNodeCluster(t testing.TB, opts redistest.Options, admin *redisops.Admin) *redistest.Server {
	t.Helper()
	s := redistest.StartServers(t, 1, opts)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, admin.AddSlotsRange(ctx, s.Addr, []topology.SlotRange{{Start: 0, End: topology.SlotCount - 1}}))
	redistest.WaitFor(t, ctx, "cluster_state:ok", func() bool {
		info, err := admin.Client(s.Addr).ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	return s
}

// infoField is one field of an INFO section of the node.
func infoField(t testing.TB, c *redis.Client, section, field string) string {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

// rdbFilesIn describes the RDB files in dir and its subdirectories: name, size, time.
func rdbFilesIn(t testing.TB, dir string) map[string]string {
	t.Helper()
	found := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".rdb") {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			found[path] = fmt.Sprintf("%d bytes at %s", fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		}
		return err
	}))
	return found
}

// hashingWriter hashes and counts what it is given, and can pause after each write.
type hashingWriter struct {
	h     hash.Hash
	n     int64
	delay time.Duration
	after func(total int64)
}

func newHashingWriter() *hashingWriter { return &hashingWriter{h: sha256.New()} }

func (w *hashingWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	if w.after != nil {
		w.after(w.n)
	}
	if w.delay > 0 {
		time.Sleep(w.delay)
	}
	return len(p), nil
}

func (w *hashingWriter) hex() string {
	return hex.EncodeToString(w.h.Sum(nil))
}

func nodeDir(t testing.TB, c *redis.Client) string {
	t.Helper()
	dir, err := c.ConfigGet(context.Background(), "dir").Result()
	require.NoError(t, err)
	return dir["dir"]
}

func keyName(prefix string, i int) string { return fmt.Sprintf("%s:%d", prefix, i) }
