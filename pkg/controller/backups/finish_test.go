package backups

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	core "k8s.io/client-go/testing"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
)

// shardRecord is what shard index's Job would record of its snapshot.
func shardRecord(index int, nodeID string, slots []string, source string, keys, size int64) backup.ShardRecord {
	return backup.ShardRecord{RedisVersion: "7.2.4", ShardManifest: backup.ShardManifest{
		Index: index, Slots: slots, NodeID: nodeID, Source: source, ReplID: "repl", ReplOffset: 1000 + int64(index),
		Keys: keys, Size: size, SHA256: strings.Repeat(string(rune('a'+index)), 64),
		Object: backup.ShardObjectName("nightly", index),
	}}
}

// complete marks every job Complete in the indexer.
func complete(f *fixture, jobs ...*batchv1.Job) {
	for _, j := range jobs {
		f.update(withCondition(j, batchv1.JobComplete, "", ""))
	}
}

func TestAllJobsCompleteWritesTheManifest(t *testing.T) {
	f, jobs := running(t, readyCluster())
	f.observe("nightly")
	f.store.putRecord("nightly", shardRecord(0, "m-low", []string{"0-5460"}, "10.0.0.4:7003", 10, 1000))
	f.store.putRecord("nightly", shardRecord(1, "m-mid", []string{"16000-16383", "5461-10922"}, "10.0.0.3:7002", 20, 2000))
	f.store.putRecord("nightly", shardRecord(2, "m-high", []string{"10923-15999"}, "10.0.0.6:7005", 30, 3000))
	complete(f, jobs...)
	f.events()

	require.Zero(t, f.syncBackup("nightly"))
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupSucceeded, b.Status.Phase)
	require.Empty(t, b.Status.Message)
	require.Equal(t, now, b.Status.CompletionTime.Time)
	require.EqualValues(t, 60, b.Status.Keys)
	require.EqualValues(t, 6000, b.Status.Size)
	require.Len(t, b.Status.Shards, 3)
	for i, shard := range b.Status.Shards {
		require.EqualValues(t, i, shard.Index)
		require.Equal(t, strings.Repeat(string(rune('a'+i)), 64), shard.SHA256)
		require.EqualValues(t, 10*(i+1), shard.Keys)
		require.EqualValues(t, 1000*(i+1), shard.Size)
		require.EqualValues(t, 1000+i, shard.ReplicationOffset)
	}
	// The source is the one node the Job streamed from, no longer the candidates.
	require.Equal(t, "10.0.0.4:7003", b.Status.Shards[0].Source)

	// The store was opened under the namespace's prefix with the Secret's keys.
	require.Equal(t, []string{"backups/redis/prod"}, f.store.opened)
	require.Equal(t, Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}, f.store.creds[0])

	m := f.store.manifests["nightly"]
	require.NotNil(t, m)
	require.Equal(t, backup.ManifestFormatVersion, m.FormatVersion)
	require.Equal(t, "nightly", m.Name)
	require.Equal(t, "cache", m.Cluster)
	require.Equal(t, "7.2.4", m.RedisVersion)
	require.True(t, now.Equal(m.Created))
	require.Len(t, m.Shards, 3)
	for i, s := range m.Shards {
		require.Equal(t, i, s.Index)
	}
	require.Equal(t, []string{"m-low", "m-mid", "m-high"}, []string{m.Shards[0].NodeID, m.Shards[1].NodeID, m.Shards[2].NodeID})

	events := f.events()
	require.Len(t, events, 1)
	require.Contains(t, events[0], "Normal BackupSucceeded 3 shards, 60 keys, 6000 bytes at s3://bucket/backups/redis/prod/nightly/")

	// An ended backup is left alone.
	f.observe("nightly")
	before := len(f.redis.Actions())
	f.syncBackup("nightly")
	require.Len(t, f.redis.Actions(), before)
}

func TestBackupRunsOnWhileAJobRuns(t *testing.T) {
	f, jobs := running(t, readyCluster())
	f.observe("nightly")
	for i := 0; i < 3; i++ {
		f.store.putRecord("nightly", shardRecord(i, "n", []string{"0"}, "a:1", 1, 1))
	}
	complete(f, jobs[0], jobs[2])

	f.syncBackup("nightly")
	require.Equal(t, redisv1beta1.BackupRunning, f.backup("nightly").Status.Phase)
	require.Empty(t, f.store.manifests)
	require.Len(t, f.createdJobs(), 3)
}

func TestMissingShardRecordFailsTheBackup(t *testing.T) {
	f, jobs := running(t, readyCluster())
	f.observe("nightly")
	f.store.putRecord("nightly", shardRecord(0, "m-low", []string{"0-5460"}, "10.0.0.4:7003", 10, 1000))
	f.store.putRecord("nightly", shardRecord(2, "m-high", []string{"10923-15999"}, "10.0.0.6:7005", 30, 3000))
	complete(f, jobs...)

	f.syncBackup("nightly")
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupFailed, b.Status.Phase)
	require.Contains(t, b.Status.Message, "shard 1: its job completed but its record cannot be read")
	require.Empty(t, f.store.manifests)
}

// deletedJobs are the label selectors of the Job collections deleted.
func deletedJobs(f *fixture) []string {
	var selectors []string
	for _, a := range writes(f.kube.Actions(), "delete-collection", "jobs") {
		selectors = append(selectors, a.(core.DeleteCollectionAction).GetListRestrictions().Labels.String())
	}
	return selectors
}

func TestFailedJobFailsTheBackupAndDeletesItsJobs(t *testing.T) {
	f, jobs := running(t, readyCluster())
	f.observe("nightly")
	complete(f, jobs[0])
	f.update(withCondition(jobs[1], batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
	f.events()

	f.syncBackup("nightly")
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupFailed, b.Status.Phase)
	require.Equal(t, now, b.Status.CompletionTime.Time)
	require.Contains(t, b.Status.Message, "shard 1 (slots 16000-16383,5461-10922)")
	require.Contains(t, b.Status.Message, "job "+jobs[1].Name+" failed: BackoffLimitExceeded")
	require.Contains(t, b.Status.Message, "kubectl logs job/"+jobs[1].Name)
	require.Equal(t, []string{LabelBackupUID + "=" + backupUID}, deletedJobs(f))
	require.Empty(t, f.store.manifests)

	events := f.events()
	require.Len(t, events, 2, "one on the backup, one on the cluster")
	require.Contains(t, events[0], "Warning BackupFailed shard 1")
	require.Contains(t, events[1], "Warning BackupFailed backup nightly: shard 1")
}

func TestMigrationEndedAfterTheStartFailsTheBackup(t *testing.T) {
	rc := readyCluster()
	f, _ := running(t, rc)
	f.observe("nightly")
	rc = rc.DeepCopy()
	ended := metav1.NewTime(now.Add(time.Second))
	rc.Status.LastMigration = &redisv1beta1.MigrationStatus{Step: "done", CompletionTime: &ended}
	f.update(rc)

	f.syncBackup("nightly")
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupFailed, b.Status.Phase)
	require.Contains(t, b.Status.Message, "slots moved")
	require.Equal(t, []string{LabelBackupUID + "=" + backupUID}, deletedJobs(f))
}

func TestMigrationEndedBeforeTheStartLeavesTheBackupRunning(t *testing.T) {
	rc := readyCluster()
	ended := metav1.NewTime(now.Add(-time.Minute))
	rc.Status.LastMigration = &redisv1beta1.MigrationStatus{Step: "done", CompletionTime: &ended}
	f, jobs := running(t, rc)
	require.Len(t, jobs, 3)

	f.observe("nightly")
	f.syncBackup("nightly")
	require.Equal(t, redisv1beta1.BackupRunning, f.backup("nightly").Status.Phase)
	require.Empty(t, deletedJobs(f))
}

func TestMigrationUnderWayFailsARunningBackup(t *testing.T) {
	rc := readyCluster()
	f, _ := running(t, rc)
	f.observe("nightly")
	rc = rc.DeepCopy()
	rc.Status.Migration = &redisv1beta1.MigrationStatus{Step: "moving slots from node 0 to node 3"}
	f.update(rc)

	f.syncBackup("nightly")
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupFailed, b.Status.Phase)
	require.Equal(t, "slots moved while the shards were streamed: moving slots from node 0 to node 3", b.Status.Message)
}
