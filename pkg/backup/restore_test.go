package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
	"redis-operator/test/s3test"
)

// TestBackupAndRestoreShardIntoAppendOnlyNode backs a node up into S3, restores the shard into
// a fresh directory and starts redis-server there with appendonly yes: every key is back, with
// its value and TTL, and the AOF goes on from the restored base.
func TestBackupAndRestoreShardIntoAppendOnlyNode(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "backups")
	store := newTestStore(t, srv, "backups", "cache/rdc1", 0)
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{AppendOnly: true}, admin)
	c := admin.Client(node.Addr)
	const n = 20000
	fillKeys(t, c, "r", n, 100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, c.HSet(ctx, "hash", "f1", "v1", "f2", "v2").Err())
	require.NoError(t, c.RPush(ctx, "list", "a", "b", "c").Err())
	require.NoError(t, c.ZAdd(ctx, "zset", redis.Z{Score: 1.5, Member: "m"}).Err())
	require.NoError(t, c.Set(ctx, "ttl", "soon", time.Hour).Err())

	object := ShardObjectName("b1", 0)
	info, err := BackupShard(ctx, Source{Addr: node.Addr}, store, object)
	require.NoError(t, err)
	require.Equal(t, int64(n+4), info.Keys)
	require.Equal(t, int64(1), info.Expires)
	require.NoError(t, store.VerifyObject(ctx, object, info.SHA256))
	m := &Manifest{FormatVersion: ManifestFormatVersion, Name: "b1", Cluster: "cache/rdc1", Created: time.Now().UTC(),
		RedisVersion: info.RedisVersion, Shards: []ShardManifest{NewShardManifest(0, nil, "id0", object, info)}}
	m.Shards[0].Slots = []string{"0-16383"}
	require.NoError(t, store.WriteManifest(ctx, m))
	m, err = store.ReadManifest(ctx, "b1")
	require.NoError(t, err)

	dir := t.TempDir()
	require.NoError(t, RestoreShard(ctx, store, m.Shards[0], dir))
	require.Equal(t, []string{"appendonlydir"}, entries(t, dir))
	require.Equal(t, []string{"appendonly.aof.1.base.rdb", "appendonly.aof.manifest"}, entries(t, filepath.Join(dir, "appendonlydir")))

	restored := redistest.StartServers(t, 1, redistest.Options{Dir: dir, AppendOnly: true})[0]
	rc := redis.NewClient(&redis.Options{Addr: restored.Addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = rc.Close() })
	redistest.WaitFor(t, ctx, "the restored node to load", func() bool {
		return rc.Ping(ctx).Err() == nil && infoField(t, rc, "persistence", "loading") == "0"
	})
	require.Equal(t, "1", infoField(t, rc, "persistence", "aof_enabled"))
	// A fresh node claims the slots of the keys it loaded; the others stay unassigned.
	slots, err := rc.ClusterInfo(ctx).Result()
	require.NoError(t, err)
	t.Logf("restored node: %s", strings.Join(strings.Fields(slots)[:4], " "))
	require.NoError(t, rc.ConfigSet(ctx, "cluster-require-full-coverage", "no").Err())
	redistest.WaitFor(t, ctx, "the restored node to serve", func() bool { return rc.Get(ctx, "r:0").Err() == nil })

	size, err := rc.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Equal(t, int64(n+4), size)
	pipe := rc.Pipeline()
	gets := make([]*redis.StringCmd, n)
	for i := range gets {
		gets[i] = pipe.Get(ctx, keyName("r", i))
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	for i, g := range gets {
		require.Equal(t, testValue(keyName("r", i), 100), g.Val(), "key %d", i)
	}
	require.Equal(t, map[string]string{"f1": "v1", "f2": "v2"}, rc.HGetAll(ctx, "hash").Val())
	require.Equal(t, []string{"a", "b", "c"}, rc.LRange(ctx, "list", 0, -1).Val())
	require.Equal(t, 1.5, rc.ZScore(ctx, "zset", "m").Val())
	require.Greater(t, rc.PTTL(ctx, "ttl").Val(), 59*time.Minute)

	// The node keeps writing its AOF after the restored base: a write survives a restart. (The
	// hash tag puts the key in a slot the node claimed.)
	require.NoError(t, rc.Set(ctx, "{r:0}after", "restore", 0).Err())
	aofManifest, err := os.ReadFile(filepath.Join(dir, "appendonlydir", "appendonly.aof.manifest"))
	require.NoError(t, err)
	require.Contains(t, string(aofManifest), "appendonly.aof.1.base.rdb seq 1 type b")
	require.Contains(t, string(aofManifest), "type i")
	restored.Kill()
	again := redistest.StartServers(t, 1, redistest.Options{Dir: dir, AppendOnly: true})[0]
	ac := redis.NewClient(&redis.Options{Addr: again.Addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = ac.Close() })
	redistest.WaitFor(t, ctx, "the restarted node to load", func() bool {
		return ac.Ping(ctx).Err() == nil && infoField(t, ac, "persistence", "loading") == "0"
	})
	require.Equal(t, int64(n+5), ac.DBSize(ctx).Val())
	require.NoError(t, ac.ConfigSet(ctx, "cluster-require-full-coverage", "no").Err())
	redistest.WaitFor(t, ctx, "the restarted node to serve", func() bool { return ac.Get(ctx, "{r:0}after").Val() == "restore" })
}

func entries(t testing.TB, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// memSource serves objects from memory.
type memSource map[string][]byte

func (m memSource) Open(_ context.Context, name string) (io.ReadCloser, error) {
	data, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("no object %s", name)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func shardOf(index int, data []byte, keys int64) ShardManifest {
	sum := sha256.Sum256(data)
	return ShardManifest{Index: index, Slots: []string{"0-16383"}, Keys: keys, Size: int64(len(data)),
		SHA256: hex.EncodeToString(sum[:]), Object: ShardObjectName("b1", index)}
}

// TestRestoreShardRefusesWrongObjects: an object that is not the manifest's leaves the
// directory as it was and names the shard.
func TestRestoreShardRefusesWrongObjects(t *testing.T) {
	good := sampleRDB()
	shard := shardOf(3, good, 1000)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 0x40
	cases := map[string]struct {
		object []byte
		shard  ShardManifest
		want   error
	}{
		"flipped byte": {flipped, shard, ErrChecksumMismatch},
		"truncated":    {good[:len(good)-100], shard, ErrChecksumMismatch},
		"longer":       {append(bytes.Clone(good), 0), shard, ErrChecksumMismatch},
		"other keys":   {good, func() ShardManifest { s := shard; s.Keys = 999; return s }(), ErrCorruptRDB},
		"not an RDB":   {[]byte("hello"), shardOf(3, []byte("hello"), 0), ErrCorruptRDB},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "redis.conf"), []byte("# kept\n"), 0o644))
			err := RestoreShard(context.Background(), memSource{shard.Object: tc.object}, tc.shard, dir)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), "shard 3")
			require.Equal(t, []string{"redis.conf"}, entries(t, dir))
		})
	}
	err := RestoreShard(context.Background(), memSource{}, shard, t.TempDir())
	require.ErrorContains(t, err, "shard 3")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	require.ErrorIs(t, RestoreShard(ctx, memSource{shard.Object: good}, shard, dir), context.Canceled)
	require.Empty(t, entries(t, dir))
}

// TestRestoreShardRefusesDirWithData: a directory where a node ran keeps its data.
func TestRestoreShardRefusesDirWithData(t *testing.T) {
	good := sampleRDB()
	shard := shardOf(0, good, 1000)
	src := memSource{shard.Object: good}
	for _, existing := range []string{"dump.rdb", "appendonlydir/", "appendonly.aof", "nodes-7000.conf", "nodes.conf", "temp-123.rdb"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, existing)
			if strings.HasSuffix(existing, "/") {
				require.NoError(t, os.Mkdir(path, 0o755))
			} else {
				require.NoError(t, os.WriteFile(path, []byte("data"), 0o644))
			}
			before := entries(t, dir)
			err := RestoreShard(context.Background(), src, shard, dir)
			require.ErrorIs(t, err, ErrDataDirNotEmpty)
			require.Contains(t, err.Error(), strings.TrimSuffix(existing, "/"))
			require.Equal(t, before, entries(t, dir))
		})
	}
	// What an interrupted restore left is cleared; a missing directory is made.
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, tempPrefix+"123"), 0o755))
	require.NoError(t, RestoreShard(context.Background(), src, shard, dir))
	require.Equal(t, []string{"appendonlydir"}, entries(t, dir))
	base, err := os.ReadFile(filepath.Join(dir, "appendonlydir", baseFile))
	require.NoError(t, err)
	require.Equal(t, good, base)
	require.ErrorIs(t, RestoreShard(context.Background(), src, shard, dir), ErrDataDirNotEmpty, "a second restore")
}
