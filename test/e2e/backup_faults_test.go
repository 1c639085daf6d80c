package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
	"redis-operator/pkg/controller/backups"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/s3test"
	"redis-operator/test/tlstest"
)

// storeOf opens the namespace's folder of dest on s3, as the operator does.
func storeOf(t *testing.T, s3 *s3test.Server, dest *redisv1beta1.BackupDestination, ns string) *backup.Store {
	store, err := backup.NewStore(backup.StoreConfig{Endpoint: dest.Endpoint, Region: dest.Region, Bucket: dest.Bucket,
		Prefix: backups.StorePrefix(dest, ns), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	require.NoError(t, err)
	return store
}

func waitPhase(t *testing.T, ns, name, phase string, timeout time.Duration) *redisv1beta1.RedisClusterBackup {
	var b *redisv1beta1.RedisClusterBackup
	framework.WaitFor(t, timeout, "backup "+name+" "+phase, func() (bool, error) {
		var err error
		b, err = f.Redis.RedisV1beta1().RedisClusterBackups(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && b.Status.Phase == phase, err
	})
	return b
}

// fillLarge writes n keys of size bytes each, so that a shard takes seconds to stream.
func fillLarge(t *testing.T, c *redis.ClusterClient, n, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	value := strings.Repeat("v", size)
	for start := 0; start < n; start += 500 {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+500, n); i++ {
				p.Set(ctx, "large:"+strconv.Itoa(i), value, 0)
			}
			return nil
		})
		require.NoError(t, err)
	}
}

// The S3 server stops while a scheduled backup streams: the backup fails with the reason and no
// manifest, the cluster is unaffected, and once the server is back the next scheduled backups
// succeed; the schedule keeps exactly spec.backup.keep of them.
func TestAnS3OutageFailsOneScheduledBackupAndTheNextSucceed(t *testing.T) {
	rc := f.ReadyCluster(t, "scheduled")
	ns := rc.Namespace
	s3, dest := backupStore(t, ns)
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "kept", 20000)

	s3.Stop(t) // the first scheduled backup meets the outage
	spec, err := json.Marshal(map[string]any{"spec": map[string]any{"backup": map[string]any{
		"schedule": "@every 15s", "keep": 2, "destination": dest}}})
	require.NoError(t, err)
	_, err = f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), "scheduled", types.MergePatchType, spec, metav1.PatchOptions{})
	require.NoError(t, err)

	var failed *redisv1beta1.RedisClusterBackup
	framework.WaitFor(t, 3*time.Minute, "a scheduled backup to fail while S3 is down", func() (bool, error) {
		for _, b := range scheduledBackups(t, ns) {
			if b.Status.Phase == redisv1beta1.BackupFailed {
				failed = b.DeepCopy()
				return true, nil
			}
		}
		return false, nil
	})
	t.Logf("backup %s failed: %s", failed.Name, failed.Status.Message)
	require.Contains(t, failed.Status.Message, "shard")
	s3.Restart(t)
	_, err = storeOf(t, s3, dest, ns).ReadManifest(context.Background(), failed.Name)
	require.True(t, errors.Is(err, backup.ErrNoManifest), "a failed backup has no manifest: %v", err)
	require.True(t, f.InvariantsHold(f.Cluster(t, ns, "scheduled")), "the cluster is unaffected")
	framework.CheckKeys(t, client, "kept", 20000)

	succeeded := map[string]bool{}
	framework.WaitFor(t, 3*time.Minute, "three scheduled backups to succeed and the schedule to keep two", func() (bool, error) {
		kept := 0
		for _, b := range scheduledBackups(t, ns) {
			if b.Status.Phase == redisv1beta1.BackupSucceeded {
				succeeded[b.Name] = true
				kept++
			}
		}
		return len(succeeded) >= 3 && kept == 2, nil
	})
	for _, b := range scheduledBackups(t, ns) {
		require.NotEqual(t, failed.Name, b.Name, "the failed backup is pruned once a later one succeeded")
		if b.Status.Phase == redisv1beta1.BackupSucceeded {
			verifyBackup(t, s3, dest, ns, &b)
		}
	}
	listed, err := storeOf(t, s3, dest, ns).ListBackups(context.Background())
	require.NoError(t, err)
	complete := 0
	for _, e := range listed {
		if e.Complete {
			complete++
		}
	}
	require.LessOrEqual(t, complete, 3, "pruned backups' objects are deleted: %+v", listed)
}

func scheduledBackups(t *testing.T, ns string) []redisv1beta1.RedisClusterBackup {
	list, err := f.Redis.RedisV1beta1().RedisClusterBackups(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: backups.LabelScheduledBy + "=scheduled"})
	require.NoError(t, err)
	return list.Items
}

// A shard's object changed after the backup: the restore is refused and says which shard, and
// the restored cluster never serves.
func TestACorruptShardObjectFailsTheRestoreNamingTheShard(t *testing.T) {
	rc := f.ReadyCluster(t, "intact")
	ns := rc.Namespace
	s3, dest := backupStore(t, ns)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	createBackup(t, ns, "snapshot", "intact", dest)
	b := waitBackup(t, ns, "snapshot", 3*time.Minute)
	require.Equal(t, redisv1beta1.BackupSucceeded, b.Status.Phase, b.Status.Message)

	// Same size, one byte flipped in the middle: only the SHA-256 tells.
	ctx := context.Background()
	object := b.Status.Shards[1].Object
	obj, err := s3.Client(t).GetObject(ctx, backupBucket, object, minio.GetObjectOptions{})
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = buf.ReadFrom(obj)
	require.NoError(t, err)
	data := buf.Bytes()
	data[len(data)/2] ^= 0xff
	_, err = s3.Client(t).PutObject(ctx, backupBucket, object, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	require.NoError(t, err)

	restored := framework.NewCluster(ns, "restored", f.FreeBasePort(t))
	restored.Spec.Restore = &redisv1beta1.RestoreSpec{BackupName: "snapshot"}
	f.CreateCluster(t, restored)
	var got *redisv1beta1.RedisCluster
	framework.WaitFor(t, 3*time.Minute, "the restore to fail", func() (bool, error) {
		got = f.Cluster(t, ns, "restored")
		return got.Status.Restore != nil && got.Status.Restore.Phase == redisv1beta1.RestoreFailed, nil
	})
	t.Logf("restore failed: %s", got.Status.Restore.Message)
	require.Contains(t, got.Status.Restore.Message, "shard 1")
	ready := meta.FindStatusCondition(got.Status.Conditions, redisv1beta1.ConditionReady)
	require.NotNil(t, ready)
	require.Equal(t, metav1.ConditionFalse, ready.Status)
	require.Contains(t, ready.Message, "restore failed")
}

// The operator is killed while the shards stream, and another takes over: the backup ends, and
// its manifest names objects whose bytes are the manifest's.
func TestABackupOutlivesItsOperator(t *testing.T) {
	op := f.StartOperator(t)
	rc := f.ReadyCluster(t, "orphaned", framework.RunBy(op))
	ns := rc.Namespace
	s3, dest := backupStore(t, ns)
	fillLarge(t, framework.ClusterClient(t, rc), 60000, 2048)
	createBackup(t, ns, "outlived", "orphaned", dest)
	waitPhase(t, ns, "outlived", redisv1beta1.BackupRunning, time.Minute)
	op.Kill()
	f.StartOperator(t)
	b := waitBackup(t, ns, "outlived", 3*time.Minute)
	require.Equal(t, redisv1beta1.BackupSucceeded, b.Status.Phase, b.Status.Message)
	verifyBackup(t, s3, dest, ns, b)
}

// A shard's replica is lost while the backup streams from it: the shard is taken from its
// master instead, and the backup holds every key.
func TestAShardWhoseReplicaIsLostIsTakenFromItsMaster(t *testing.T) {
	rc := f.ReadyCluster(t, "lossy")
	ns := rc.Namespace
	s3, dest := backupStore(t, ns)
	fillLarge(t, framework.ClusterClient(t, rc), 150000, 2048)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	// The values compress to a few MB a shard, which streamed in milliseconds, at times before
	// the replica was lost. Redis' own test knob slows every node's RDB to about 3 s a shard.
	for _, addr := range framework.NodeAddrs(rc) {
		node := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		require.NoError(t, node.ConfigSet(context.Background(), "rdb-key-save-delay", "50").Err())
		node.Close()
	}
	createBackup(t, ns, "lossy", "lossy", dest)
	b := waitPhase(t, ns, "lossy", redisv1beta1.BackupRunning, time.Minute)
	shard := b.Status.Shards[0]
	sources := strings.Split(shard.Source, ",")
	require.Len(t, sources, 2, "the replica, then the master")
	replicaPod := podAt(t, f.Cluster(t, ns, "lossy"), sources[0])

	ctx := context.Background()
	framework.WaitFor(t, time.Minute, "shard 0's job to run", func() (bool, error) {
		pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: backups.LabelBackupUID + "=" + string(b.UID)})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && strings.Contains(strings.Join(p.Spec.Containers[0].Args, " "), "--shard 0") {
				return true, nil
			}
		}
		return false, nil
	})
	time.Sleep(300 * time.Millisecond) // into the stream
	require.NoError(t, f.Kube.CoreV1().Pods(ns).Delete(ctx, replicaPod, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	b = waitBackup(t, ns, "lossy", 3*time.Minute)
	require.Equal(t, redisv1beta1.BackupSucceeded, b.Status.Phase, b.Status.Message)
	require.Equal(t, sources[1], b.Status.Shards[0].Source, "shard 0 was taken from its master")
	verifyBackup(t, s3, dest, ns, b)
	restoredCluster(t, ns, "back", "lossy", 3)
	framework.CheckKeys(t, framework.ClusterClient(t, f.Cluster(t, ns, "back")), "kept", 20000)
}

// A TLS cluster's shards stream over TLS, the Jobs presenting the node certificate the nodes
// require of clients.
func TestATLSClusterIsBackedUpOverTLS(t *testing.T) {
	rc := f.ReadyCluster(t, "sealed", framework.WithTLS(tlstest.NewCA(t, "backup-ca").ValidNode(t)))
	ns := rc.Namespace
	s3, dest := backupStore(t, ns)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	createBackup(t, ns, "sealed", "sealed", dest)
	b := waitBackup(t, ns, "sealed", 3*time.Minute)
	require.Equal(t, redisv1beta1.BackupSucceeded, b.Status.Phase, b.Status.Message)
	require.GreaterOrEqual(t, b.Status.Keys, int64(20000))
	verifyBackup(t, s3, dest, ns, b)
}
