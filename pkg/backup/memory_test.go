package backup

import (
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/redistest"
	"redis-operator/test/s3test"
)

// heapPeak samples HeapInuse every few milliseconds until stopped, and returns its peak.
func heapPeak() (stop func() uint64) {
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestBackupShardMemoryIsBoundedByPartSize streams a node of about 200 MB into S3 with 8 MiB
// parts: the heap grows by a few parts at most, not by the dataset.
func TestBackupShardMemoryIsBoundedByPartSize(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a node with 200 MB")
	}
	const partSize = 8 << 20
	srv := s3test.Start(t)
	srv.Bucket(t, "backups")
	store := newTestStore(t, srv, "backups", "mem", partSize)
	admin := redisops.NewAdmin("")
	t.Cleanup(admin.Close)
	node := startSingleNodeCluster(t, redistest.Options{}, admin)
	fillKeys(t, admin.Client(node.Addr), "kb", 150_000, 1024)
	fillKeys(t, admin.Client(node.Addr), "big", 500, 100<<10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	baseline := heapInuse()
	stop := heapPeak()
	start := time.Now()
	info, err := BackupShard(ctx, Source{Addr: node.Addr}, store, ShardObjectName("m1", 0))
	elapsed := time.Since(start)
	peak := stop()
	require.NoError(t, err)
	growth := int64(peak) - int64(baseline)
	t.Logf("%d MB, %d keys in %s: %.0f MB/s; heap in use %d MB before, peak %d MB (+%.1f MB, part size %d MB)",
		info.Size>>20, info.Keys, elapsed.Round(time.Millisecond), float64(info.Size)/(1<<20)/elapsed.Seconds(),
		baseline>>20, peak>>20, float64(growth)/(1<<20), partSize>>20)
	require.Equal(t, int64(150_500), info.Keys)
	require.Greater(t, info.Size, int64(190<<20))
	require.Less(t, growth, int64(3*partSize+16<<20), "memory grows with the part size, not the dataset")
	require.NoError(t, store.VerifyObject(ctx, ShardObjectName("m1", 0), info.SHA256))
}

// benchmarkNode is a node of about 50 MB (50,000 values of 1 KB that do not compress).
func benchmarkNode(b *testing.B) (*redistest.Server, *redisops.Admin) {
	admin := redisops.NewAdmin("")
	b.Cleanup(admin.Close)
	node := startSingleNodeCluster(b, redistest.Options{}, admin)
	fillKeys(b, admin.Client(node.Addr), "kb", 50_000, 1024)
	return node, admin
}

// eachCompression runs run with the node's rdbcompression on (the default: its fork spends
// its time failing to compress the values) and off.
func eachCompression(b *testing.B, admin *redisops.Admin, node *redistest.Server, run func(b *testing.B)) {
	for _, compression := range []string{"yes", "no"} {
		b.Run("rdbcompression="+compression, func(b *testing.B) {
			if err := admin.Client(node.Addr).ConfigSet(context.Background(), "rdbcompression", compression).Err(); err != nil {
				b.Fatal(err)
			}
			run(b)
		})
	}
}

// BenchmarkBackupShard streams the node into S3 (16 MiB parts); MB/s is the RDB's.
func BenchmarkBackupShard(b *testing.B) {
	srv := s3test.Start(b)
	srv.Bucket(b, "backups")
	store := newTestStore(b, srv, "backups", "bench", DefaultPartSize)
	node, admin := benchmarkNode(b)
	eachCompression(b, admin, node, func(b *testing.B) {
		for b.Loop() {
			info, err := BackupShard(context.Background(), Source{Addr: node.Addr}, store, ShardObjectName("bench", 0))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(info.Size)
		}
	})
}

// BenchmarkStreamShard streams the node and discards the RDB: the stream's own cost.
func BenchmarkStreamShard(b *testing.B) {
	node, admin := benchmarkNode(b)
	eachCompression(b, admin, node, func(b *testing.B) {
		for b.Loop() {
			stream, err := OpenShard(context.Background(), Source{Addr: node.Addr})
			if err != nil {
				b.Fatal(err)
			}
			n, err := stream.WriteTo(io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n)
		}
	})
}
