package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/backup"
	"redis-operator/pkg/controller/objects"
	"redis-operator/test/redistest"
	"redis-operator/test/s3test"
)

// The commands the backup Jobs and the restore's init containers run, end to end on a real
// redis-server and S3 server: a shard is taken from the first source that answers, recorded,
// and put back; a directory that already holds it takes it again as done, one that holds other
// data refuses it with the exit code the operator fails the restore on.
func TestShardCommandsBackUpAndRestoreAShard(t *testing.T) {
	s3 := s3test.Start(t)
	s3.Bucket(t, "backups")
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	node := redistest.StartServers(t, 1, redistest.Options{})[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := redis.NewClient(&redis.Options{Addr: node.Addr})
	defer client.Close()
	require.NoError(t, client.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err())
	require.Eventually(t, func() bool { return client.Set(ctx, "k:0", 0, 0).Err() == nil }, 10*time.Second, 50*time.Millisecond)
	for i := range 1000 {
		require.NoError(t, client.Set(ctx, "k:"+strconv.Itoa(i), i, 0).Err())
	}
	location := []string{"--endpoint", s3.Endpoint, "--region", s3.Region, "--insecure", "--bucket", "backups",
		"--prefix", "team/ns", "--backup", "b1", "--shard", "0"}

	gone := "127.0.0.1:1" // nothing listens: the next source is tried
	require.NoError(t, backupShard(ctx, append(location, "--sources", gone+","+node.Addr, "--slots", "0-16383", "--node-id", "n0")))
	store, err := backup.NewStore(backup.StoreConfig{Endpoint: s3.Endpoint, Region: s3.Region, Bucket: "backups", Prefix: "team/ns",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	require.NoError(t, err)
	rec, err := store.ReadShardRecord(ctx, "b1", 0)
	require.NoError(t, err)
	require.Equal(t, node.Addr, rec.Source)
	require.EqualValues(t, 1000, rec.Keys)
	require.NotEmpty(t, rec.RedisVersion)
	require.NoError(t, store.WriteManifest(ctx, &backup.Manifest{FormatVersion: backup.ManifestFormatVersion, Name: "b1",
		Cluster: "c", Shards: []backup.ShardManifest{rec.ShardManifest}}))

	dir := t.TempDir()
	require.NoError(t, restoreShard(ctx, append(location, "--dir", dir)))
	require.FileExists(t, filepath.Join(dir, backup.AppendDirname, backup.AppendFilename+".manifest"))
	require.NoError(t, restoreShard(ctx, append(location, "--dir", dir)), "a pod started again finds its shard in place")

	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "dump.rdb"), []byte("REDIS0011"), 0o644))
	code := runShardCommand("restore-shard", append(location, "--dir", other), restoreShard)
	require.Equal(t, objects.RestoreRefusedExit, code, "a directory with other data is refused for good")
	code = runShardCommand("restore-shard", append(location[:len(location)-2], "--shard", "3", "--dir", t.TempDir()), restoreShard)
	require.Equal(t, 1, code, "a shard the backup does not have")
}
