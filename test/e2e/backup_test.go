package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/s3test"
)

const backupBucket = "backups"

// backupStore starts an S3 server for the test with the bucket, and gives ns the Secret of its
// keys; it returns the server and a destination naming both.
func backupStore(t *testing.T, ns string) (*s3test.Server, *redisv1beta1.BackupDestination) {
	s3 := s3test.Start(t)
	s3.Bucket(t, backupBucket)
	_, err := f.Kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3"},
		StringData: map[string]string{"accessKeyID": s3.AccessKey, "secretAccessKey": s3.SecretKey},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return s3, &redisv1beta1.BackupDestination{Endpoint: s3.Endpoint, Insecure: true, Region: s3.Region, Bucket: backupBucket,
		Prefix: "e2e", CredentialsSecret: "s3"}
}

func createBackup(t *testing.T, ns, name, cluster string, dest *redisv1beta1.BackupDestination) {
	_, err := f.Redis.RedisV1beta1().RedisClusterBackups(ns).Create(context.Background(), &redisv1beta1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       redisv1beta1.RedisClusterBackupSpec{ClusterName: cluster, Destination: dest},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// waitBackup waits for the backup to end, and returns it.
func waitBackup(t *testing.T, ns, name string, timeout time.Duration) *redisv1beta1.RedisClusterBackup {
	var b *redisv1beta1.RedisClusterBackup
	t.Cleanup(func() {
		if t.Failed() && b != nil {
			t.Logf("backup %s: phase %q, message %q", name, b.Status.Phase, b.Status.Message)
		}
	})
	framework.WaitFor(t, timeout, "backup "+name+" to end", func() (bool, error) {
		var err error
		b, err = f.Redis.RedisV1beta1().RedisClusterBackups(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && (b.Status.Phase == redisv1beta1.BackupSucceeded || b.Status.Phase == redisv1beta1.BackupFailed), err
	})
	return b
}

// restoredCluster creates a cluster of masters masters from backup name and waits until it is
// Ready with them all.
func restoredCluster(t *testing.T, ns, name, backupName string, masters int32) *redisv1beta1.RedisCluster {
	start := time.Now()
	createRestored(t, ns, name, redisv1beta1.RestoreSpec{BackupName: backupName}, masters)
	return waitRestored(t, ns, name, masters, start)
}

func createRestored(t *testing.T, ns, name string, from redisv1beta1.RestoreSpec, masters int32) {
	rc := framework.NewCluster(ns, name, f.FreeBasePort(t))
	rc.Spec.Masters = masters
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
	rc.Spec.Restore = &from
	f.CreateCluster(t, rc)
}

func waitRestored(t *testing.T, ns, name string, masters int32, start time.Time) *redisv1beta1.RedisCluster {
	framework.WaitFor(t, 4*time.Minute, fmt.Sprintf("%s restored with %d masters", name, masters), func() (bool, error) {
		got := f.Cluster(t, ns, name)
		return got.Status.Restore != nil && got.Status.Restore.Phase == redisv1beta1.RestoreSucceeded &&
			got.Status.ReadyMasters == masters && f.InvariantsHold(got), nil
	})
	rc := f.WaitReady(t, ns, name, 3*time.Minute)
	t.Logf("%s: restored and Ready with %d masters %.1fs after it was created", name, masters, time.Since(start).Seconds())
	return rc
}

// A 3x1 cluster with persistence and 200,000 keys is backed up under 8 writers; every shard's
// object reads back with its SHA-256, the manifest is there, and clusters restored from it with
// 3 masters (by the backup's name) and 5 (by its bucket and folder) serve every key written
// before the backup started.
func TestABackupUnderWritersRestoresEveryKeyOntoThreeAndFiveMasters(t *testing.T) {
	rc := f.ReadyCluster(t, "source", persistent)
	ns := rc.Namespace
	s3, dest := backupStore(t, ns)
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "kept", 200000)
	w := framework.StartWriters(client, 8, 1000000)

	start := time.Now()
	createBackup(t, ns, "nightly", "source", dest)
	// A restore of a backup still running waits for it, with no pod made before.
	createRestored(t, ns, "three", redisv1beta1.RestoreSpec{BackupName: "nightly"}, 3)
	b := waitBackup(t, ns, "nightly", 3*time.Minute)
	w.Halt()
	require.Equal(t, redisv1beta1.BackupSucceeded, b.Status.Phase, b.Status.Message)
	t.Logf("backup of %d keys (%d bytes, %d shards) in %.1fs under writers (%d writes acknowledged meanwhile)",
		b.Status.Keys, b.Status.Size, b.Status.ShardCount, time.Since(start).Seconds(), w.Acked())
	require.EqualValues(t, 3, b.Status.ShardCount)
	require.GreaterOrEqual(t, b.Status.Keys, int64(200000))

	verifyBackup(t, s3, dest, ns, b)

	waitRestored(t, ns, "three", 3, start)
	framework.CheckKeys(t, framework.ClusterClient(t, f.Cluster(t, ns, "three")), "kept", 200000)
	// The same backup named by its bucket and folder, as after its resource is gone.
	byPlace := *dest
	byPlace.Prefix = dest.Prefix + "/" + ns + "/nightly"
	start = time.Now()
	createRestored(t, ns, "five", redisv1beta1.RestoreSpec{Destination: &byPlace}, 5)
	waitRestored(t, ns, "five", 5, start)
	framework.CheckKeys(t, framework.ClusterClient(t, f.Cluster(t, ns, "five")), "kept", 200000)
}

// verifyBackup reads the backup's manifest and every shard's object back from the store: each
// object's SHA-256 is the manifest's and the status's.
func verifyBackup(t *testing.T, s3 *s3test.Server, dest *redisv1beta1.BackupDestination, ns string, b *redisv1beta1.RedisClusterBackup) {
	store, err := backup.NewStore(backup.StoreConfig{Endpoint: dest.Endpoint, Region: dest.Region, Bucket: dest.Bucket,
		Prefix: dest.Prefix + "/" + ns, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	require.NoError(t, err)
	ctx := context.Background()
	m, err := store.ReadManifest(ctx, b.Name)
	require.NoError(t, err)
	require.Len(t, m.Shards, len(b.Status.Shards))
	for i, shard := range m.Shards {
		require.NoError(t, store.VerifyObject(ctx, shard.Object, shard.SHA256), "shard %d", i)
		require.Equal(t, b.Status.Shards[i].SHA256, shard.SHA256)
		require.Equal(t, b.Status.Shards[i].Keys, shard.Keys)
	}
}
