package backup

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
	"redis-operator/test/tlstest"
)

// TestStreamShardFromMasterAndReplica streams both nodes of a shard of a 2x1 cluster holding
// 50,000 keys: the key count of RESIZEDB is DBSIZE, the hash is the hash of the bytes the reader
// got, and the diskless stream leaves no RDB file and no save behind.
func TestStreamShardFromMasterAndReplica(t *testing.T) {
	servers := redistest.StartServers(t, 4, redistest.Options{})
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 2)
	fillKeys(t, redistest.ClusterClient(t, servers), "k", 50000, 64)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	master, replica := admin.Client(servers[0].Addr), admin.Client(servers[2].Addr)
	masterKeys, err := master.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Greater(t, masterKeys, int64(20000))
	redistest.WaitFor(t, ctx, "the replica to hold the master's keys", func() bool {
		n, err := replica.DBSize(ctx).Result()
		return err == nil && n == masterKeys
	})
	lastSave := infoField(t, master, "persistence", "rdb_last_save_time")
	changes := infoField(t, master, "persistence", "rdb_changes_since_last_save")
	fullSyncs, _ := strconv.Atoi(infoField(t, master, "stats", "sync_full"))

	// The servers share a directory, where the replica's first sync left its dump.rdb.
	rdbFiles := rdbFilesIn(t, nodeDir(t, master))
	for _, node := range []*redistest.Server{servers[0], servers[2]} {
		stream, err := OpenShard(ctx, Source{Addr: node.Addr})
		require.NoError(t, err)
		w := newHashingWriter()
		n, err := stream.WriteTo(w)
		require.NoError(t, err)
		info, err := stream.Info()
		require.NoError(t, err)
		require.NoError(t, stream.Close())
		t.Logf("%s: %d bytes, %d keys, offset %d (aux %d), redis %s, rdb v%d, %s", node.Addr, info.Size, info.Keys,
			info.ReplOffset, info.AuxReplOffset, info.RedisVersion, info.Version, info.Framing)
		require.Equal(t, masterKeys, info.Keys, "RESIZEDB's count is the node's DBSIZE")
		require.Equal(t, n, info.Size)
		require.Equal(t, w.n, info.Size)
		require.Equal(t, w.hex(), info.SHA256)
		require.Equal(t, "eof-mark", info.Framing, "a node with repl-diskless-sync streams from the fork")
		require.True(t, info.Checksummed)
		require.Equal(t, info.ReplOffset, info.AuxReplOffset, "+FULLRESYNC and the RDB agree on the offset")
		require.NotEmpty(t, info.RedisVersion)
		require.Equal(t, rdbFiles, rdbFilesIn(t, nodeDir(t, admin.Client(node.Addr))), "no RDB file written on the node's disk")
	}
	masterRepl, err := master.Info(ctx, "replication").Result()
	require.NoError(t, err)
	require.Contains(t, masterRepl, "master_replid:")

	// The fork served the stream only: no save happened, the dataset still counts as unsaved.
	require.Equal(t, lastSave, infoField(t, master, "persistence", "rdb_last_save_time"))
	require.Equal(t, changes, infoField(t, master, "persistence", "rdb_changes_since_last_save"))
	fullSyncsAfter, _ := strconv.Atoi(infoField(t, master, "stats", "sync_full"))
	require.Equal(t, fullSyncs+1, fullSyncsAfter)
	// The rdb-only client is gone once the RDB is sent; the real replica stays.
	redistest.WaitFor(t, ctx, "the master to count its one replica again", func() bool {
		return infoField(t, master, "replication", "connected_slaves") == "1"
	})
}

// TestStreamShardWithDiskBasedSync reads the $<length> form a master with repl-diskless-sync no
// sends after writing its RDB file.
func TestStreamShardWithDiskBasedSync(t *testing.T) {
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{}, admin)
	c := admin.Client(node.Addr)
	fillKeys(t, c, "d", 5000, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.Empty(t, rdbFilesIn(t, nodeDir(t, c)))
	require.NoError(t, c.ConfigSet(ctx, "repl-diskless-sync", "no").Err())
	stream, err := OpenShard(ctx, Source{Addr: node.Addr})
	require.NoError(t, err)
	defer stream.Close()
	w := newHashingWriter()
	_, err = stream.WriteTo(w)
	require.NoError(t, err)
	info, err := stream.Info()
	require.NoError(t, err)
	require.Equal(t, "bulk", info.Framing)
	require.NotEmpty(t, rdbFilesIn(t, nodeDir(t, c)), "disk-based sync writes the RDB file first")
	require.Equal(t, int64(5000), info.Keys)
	require.Equal(t, w.hex(), info.SHA256)
}

// TestStreamShardOverTLS streams from a node whose only port is TLS.
func TestStreamShardOverTLS(t *testing.T) {
	creds := tlstest.NewCA(t, "backup-ca").ValidNode(t)
	files := creds.Write(t, t.TempDir())
	client := creds.ClientCredentials(t)
	config := redisops.TLSConfig(func() *redisops.TLSCredentials { return client })
	admin := redisops.NewTLSAdmin(config, "")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{TLS: &files}, admin)
	fillKeys(t, admin.Client(node.Addr), "tls", 3000, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := OpenShard(ctx, Source{Addr: node.Addr, DialTimeout: 2 * time.Second})
	require.ErrorIs(t, err, ErrConnectionLost, "a plain client cannot speak to a TLS port")
	stranger := tlstest.NewCA(t, "other-ca").ValidNode(t).ClientCredentials(t)
	_, err = OpenShard(ctx, Source{Addr: node.Addr, TLS: redisops.TLSConfig(func() *redisops.TLSCredentials { return stranger })})
	require.ErrorIs(t, err, ErrTLS, "a node whose CA is not trusted")
	require.False(t, IsRetryable(err))

	stream, err := OpenShard(ctx, Source{Addr: node.Addr, TLS: config})
	require.NoError(t, err)
	defer stream.Close()
	_, err = stream.WriteTo(newHashingWriter())
	require.NoError(t, err)
	info, err := stream.Info()
	require.NoError(t, err)
	require.Equal(t, int64(3000), info.Keys)
}

// TestStreamShardAuth: a wrong password and a missing one are refused with the node's words;
// the right one, as default or as a named user, streams.
func TestStreamShardAuth(t *testing.T) {
	admin := redisops.NewAdmin("", "secret")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{}, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fillKeys(t, admin.Client(node.Addr), "a", 100, 10)
	require.NoError(t, admin.SetPassword(ctx, node.Addr, "secret"))
	require.NoError(t, admin.SetUser(ctx, node.Addr, "backup", []string{"on", ">b4ckup", "+@all", "~*"}))

	_, err := OpenShard(ctx, Source{Addr: node.Addr, Password: "wrong"})
	require.Error(t, err)
	require.True(t, IsAuthError(err), "%v", err)
	require.False(t, IsRetryable(err))
	require.Contains(t, err.Error(), "WRONGPASS")

	_, err = OpenShard(ctx, Source{Addr: node.Addr})
	require.True(t, IsAuthError(err), "%v", err)
	require.Contains(t, err.Error(), "NOAUTH")

	for _, src := range []Source{{Addr: node.Addr, Password: "secret"}, {Addr: node.Addr, Username: "backup", Password: "b4ckup"}} {
		stream, err := OpenShard(ctx, src)
		require.NoError(t, err)
		_, err = stream.WriteTo(newHashingWriter())
		require.NoError(t, err)
		info, err := stream.Info()
		require.NoError(t, err)
		require.Equal(t, int64(100), info.Keys)
	}
}

// TestStreamShardNodeKilledMidStream: a node that dies while its RDB flows gives a retryable
// ErrConnectionLost, not a short RDB taken for a whole one.
func TestStreamShardNodeKilledMidStream(t *testing.T) {
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{}, admin)
	fillKeys(t, admin.Client(node.Addr), "big", 30000, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := OpenShard(ctx, Source{Addr: node.Addr})
	require.NoError(t, err)
	defer stream.Close()
	w := newHashingWriter()
	killed := false
	w.after = func(total int64) {
		if total > 1<<20 && !killed {
			killed = true
			node.Kill()
		}
	}
	w.delay = time.Millisecond
	_, err = stream.WriteTo(w)
	require.True(t, killed)
	require.ErrorIs(t, err, ErrConnectionLost)
	require.True(t, IsRetryable(err))
	_, err = stream.Info()
	require.ErrorIs(t, err, ErrConnectionLost)
}

// TestStreamShardStalledNodeAndCancel: a node that stops sending is given up after IdleTimeout
// as a lost connection; a cancelled context ends the stream with the context's error.
func TestStreamShardStalledNodeAndCancel(t *testing.T) {
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{}, admin)
	fillKeys(t, admin.Client(node.Addr), "s", 30000, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	stream, err := OpenShard(ctx, Source{Addr: node.Addr, IdleTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	w := newHashingWriter()
	frozen := false
	w.after = func(total int64) {
		if total > 1<<20 && !frozen {
			frozen = true
			node.Freeze()
		}
	}
	start := time.Now()
	_, err = stream.WriteTo(w)
	node.Thaw()
	require.ErrorIs(t, err, ErrConnectionLost)
	require.Less(t, time.Since(start), 10*time.Second)
	require.NoError(t, stream.Close())

	// Wait out the fork the stalled stream left, so that the next sync starts at once.
	redistest.WaitFor(t, ctx, "the node's fork to end", func() bool {
		return infoField(t, admin.Client(node.Addr), "persistence", "rdb_bgsave_in_progress") == "0"
	})
	cctx, ccancel := context.WithCancel(ctx)
	stream, err = OpenShard(cctx, Source{Addr: node.Addr})
	require.NoError(t, err)
	defer stream.Close()
	w = newHashingWriter()
	w.after = func(total int64) {
		if total > 1<<20 {
			ccancel()
		}
	}
	w.delay = time.Millisecond
	_, err = stream.WriteTo(w)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, ErrConnectionLost))
}
