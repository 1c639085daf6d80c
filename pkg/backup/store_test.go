package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"redis-operator/test/s3test"
)

func newTestStore(t testing.TB, srv *s3test.Server, bucket, prefix string, partSize uint64) *Store {
	t.Helper()
	store, err := NewStore(StoreConfig{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket, Prefix: prefix,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PartSize: partSize})
	require.NoError(t, err)
	return store
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// failingReader yields data and then err instead of io.EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

func TestStoreUploadVerifyAndAbort(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "backups")
	store := newTestStore(t, srv, "backups", "prod/cache", MinPartSize)
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	data := randomBytes(12<<20+123, 1) // three parts
	sum := sha256.Sum256(data)
	size, err := store.UploadShard(ctx, "b1/shard-0.rdb", bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), size)
	st, err := client.StatObject(ctx, "backups", "prod/cache/b1/shard-0.rdb", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), st.Size)
	require.NoError(t, store.VerifyObject(ctx, "b1/shard-0.rdb", hex.EncodeToString(sum[:])))
	err = store.VerifyObject(ctx, "b1/shard-0.rdb", strings.Repeat("0", 64))
	require.ErrorIs(t, err, ErrChecksumMismatch)

	// A stream that fails, after some parts or before the first is full, leaves no object and
	// no unfinished upload.
	for _, n := range []int{11 << 20, 1000} {
		broken := &failingReader{r: bytes.NewReader(data[:n]), err: ErrConnectionLost}
		_, err = store.UploadShard(ctx, "b1/shard-1.rdb", broken)
		require.ErrorIs(t, err, ErrConnectionLost)
		_, err = client.StatObject(ctx, "backups", "prod/cache/b1/shard-1.rdb", minio.StatObjectOptions{})
		require.Equal(t, "NoSuchKey", minio.ToErrorResponse(err).Code, "%v", err)
		require.Empty(t, unfinishedUploads(t, client))
	}
}

func unfinishedUploads(t testing.TB, client *minio.Client) []string {
	t.Helper()
	var keys []string
	for up := range client.ListIncompleteUploads(context.Background(), "backups", "", true) {
		require.NoError(t, up.Err)
		keys = append(keys, up.Key)
	}
	return keys
}

func testManifest(name string, shards int) *Manifest {
	m := &Manifest{FormatVersion: ManifestFormatVersion, Name: name, Cluster: "cache/rdc1",
		Created: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), RedisVersion: "7.0.15"}
	for i, r := range []string{"0-5460", "5461-10922", "10923-16383"}[:shards] {
		m.Shards = append(m.Shards, ShardManifest{Index: i, Slots: []string{r}, NodeID: strings.Repeat("n", 40),
			ReplOffset: 100, Keys: 10, Size: 1000, SHA256: strings.Repeat("ab", 32), Object: ShardObjectName(name, i)})
	}
	return m
}

func TestStoreManifestsListAndDelete(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "backups")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, prefix := range []string{"", "/team/rdc1/"} {
		store := newTestStore(t, srv, "backups", prefix, 0)
		for _, name := range []string{"20260501T120000Z", "20260502T120000Z", "20260503T120000Z"} {
			for i := 0; i < 3; i++ {
				_, err := store.UploadShard(ctx, ShardObjectName(name, i), bytes.NewReader([]byte("rdb of "+name)))
				require.NoError(t, err)
			}
		}
		_, err := store.ReadManifest(ctx, "20260501T120000Z")
		require.ErrorIs(t, err, ErrNoManifest)
		for _, name := range []string{"20260501T120000Z", "20260502T120000Z"} {
			require.NoError(t, store.WriteManifest(ctx, testManifest(name, 3)))
		}
		m, err := store.ReadManifest(ctx, "20260502T120000Z")
		require.NoError(t, err)
		require.Equal(t, testManifest("20260502T120000Z", 3), m)

		list, err := store.ListBackups(ctx)
		require.NoError(t, err)
		require.Len(t, list, 3)
		for i, want := range []struct {
			name     string
			complete bool
		}{{"20260501T120000Z", true}, {"20260502T120000Z", true}, {"20260503T120000Z", false}} {
			require.Equal(t, want.name, list[i].Name)
			require.Equal(t, want.complete, list[i].Complete)
		}
		require.Equal(t, 4, list[0].Objects)
		require.Equal(t, 3, list[2].Objects)

		// An upload cut short by a crash, with no abort: deleting its backup aborts it.
		core := minio.Core{Client: srv.Client(t)}
		_, err = core.NewMultipartUpload(ctx, "backups", store.key(ShardObjectName("20260503T120000Z", 3)), minio.PutObjectOptions{})
		require.NoError(t, err)
		require.Len(t, unfinishedUploads(t, core.Client), 1)

		require.NoError(t, store.DeleteBackup(ctx, "20260501T120000Z"))
		require.NoError(t, store.DeleteBackup(ctx, "20260503T120000Z"))
		require.Empty(t, unfinishedUploads(t, core.Client))
		list, err = store.ListBackups(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "20260502T120000Z", list[0].Name)
		require.NoError(t, store.DeleteBackup(ctx, "20260502T120000Z"))
		require.Error(t, store.DeleteBackup(ctx, "../x"))
	}
}

func TestManifestValidate(t *testing.T) {
	require.NoError(t, testManifest("b1", 3).Validate())
	cases := map[string]func(m *Manifest){
		"newer format":       func(m *Manifest) { m.FormatVersion = 2 },
		"bad name":           func(m *Manifest) { m.Name = "a/b" },
		"no shards":          func(m *Manifest) { m.Shards = nil },
		"index out of order": func(m *Manifest) { m.Shards[0].Index, m.Shards[1].Index = 1, 0 },
		"bad hash":           func(m *Manifest) { m.Shards[1].SHA256 = strings.Repeat("AB", 32) },
		"empty object":       func(m *Manifest) { m.Shards[1].Size = 0 },
		"foreign object":     func(m *Manifest) { m.Shards[2].Object = "other/shard-2.rdb" },
		"overlapping":        func(m *Manifest) { m.Shards[1].Slots = []string{"5000-6000"} },
		"bad slot range":     func(m *Manifest) { m.Shards[1].Slots = []string{"16384"} },
	}
	for name, spoil := range cases {
		m := testManifest("b1", 3)
		spoil(m)
		require.Error(t, m.Validate(), name)
	}
	ranges, err := testManifest("b1", 3).Shards[1].SlotRanges()
	require.NoError(t, err)
	require.Equal(t, 5461, ranges[0].Start)
}

func TestNewStoreRefusesBadConfig(t *testing.T) {
	_, err := NewStore(StoreConfig{Bucket: "b"})
	require.Error(t, err)
	_, err = NewStore(StoreConfig{Endpoint: "127.0.0.1:9", Bucket: "b", PartSize: 1 << 20})
	require.ErrorContains(t, err, "minimum")
	_, err = NewStore(StoreConfig{Endpoint: "127.0.0.1:9", Bucket: "b", TLS: true, CA: []byte("junk")})
	require.ErrorContains(t, err, "PEM")
}

// TestBackupShardFromAny: a node that cannot be reached is passed over for the next; a corrupt
// stream leaves no object; a refusal that would repeat stops the tries.
func TestBackupShardFromAny(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "backups")
	store := newTestStore(t, srv, "backups", "any", 0)
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := sampleRDB()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := l.Addr().String()
	require.NoError(t, l.Close())
	good := fakeNode{replies: map[string]string{"PSYNC": fullResync}, sync: markSync(rdb, 4096)}

	info, err := BackupShardFromAny(ctx, []Source{{Addr: down}, {Addr: good.start(t)}}, store, "b1/shard-0.rdb")
	require.NoError(t, err)
	require.Equal(t, int64(len(rdb)), info.Size)
	require.NoError(t, store.VerifyObject(ctx, "b1/shard-0.rdb", info.SHA256))

	corrupt := append([]byte{}, rdb...)
	corrupt[100] ^= 1
	bad := fakeNode{replies: map[string]string{"PSYNC": fullResync}, sync: markSync(corrupt, 4096)}
	_, err = BackupShard(ctx, Source{Addr: bad.start(t)}, store, "b1/shard-1.rdb")
	require.ErrorIs(t, err, ErrCorruptRDB)
	_, err = client.StatObject(ctx, "backups", "any/b1/shard-1.rdb", minio.StatObjectOptions{})
	require.Equal(t, "NoSuchKey", minio.ToErrorResponse(err).Code, "%v", err)
	require.Empty(t, unfinishedUploads(t, client))

	refusing := fakeNode{replies: map[string]string{"AUTH": "-WRONGPASS invalid username-password pair"}}
	_, err = BackupShardFromAny(ctx, []Source{{Addr: refusing.start(t), Password: "x"}, {Addr: down}}, store, "b1/shard-2.rdb")
	require.True(t, IsAuthError(err))
	require.NotErrorIs(t, err, ErrConnectionLost, "the second node was not tried")
}
