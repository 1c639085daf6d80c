package backups

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

func TestBackupWaitsForAReadyCluster(t *testing.T) {
	rc := readyCluster()
	rc.Status.Conditions[0].Status = metav1.ConditionFalse
	f := newFixture(t, rc, newBackup("nightly"), credentials())

	require.Equal(t, pendingRecheck, f.syncBackup("nightly"))
	b := f.observe("nightly")
	require.Equal(t, redisv1beta1.BackupPending, b.Status.Phase)
	require.Equal(t, "waiting for the cluster to be Ready", b.Status.Message)
	require.Nil(t, b.Status.StartTime)
	require.Empty(t, b.Status.Shards)

	// Waiting on with the same message writes nothing more, and no Job is made.
	require.Equal(t, pendingRecheck, f.syncBackup("nightly"))
	require.Len(t, writes(f.redis.Actions(), "update", "redisclusterbackups"), 1)
	require.Empty(t, f.createdJobs())
}

func TestBackupWaitsForAMigrationToEnd(t *testing.T) {
	rc := readyCluster()
	rc.Status.Migration = &redisv1beta1.MigrationStatus{SlotsPlanned: 100, Step: "moving slots from node 2 to node 3"}
	f := newFixture(t, rc, newBackup("nightly"), credentials())

	require.Equal(t, pendingRecheck, f.syncBackup("nightly"))
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupPending, b.Status.Phase)
	require.Equal(t, "waiting for the slot migration to end: moving slots from node 2 to node 3", b.Status.Message)
}

func TestBackupWaitsForARestoreToEnd(t *testing.T) {
	rc := readyCluster()
	rc.Status.Restore = &redisv1beta1.RestoreStatus{Phase: redisv1beta1.RestoreRunning}
	f := newFixture(t, rc, newBackup("nightly"), credentials())

	f.syncBackup("nightly")
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupPending, b.Status.Phase)
	require.Contains(t, b.Status.Message, "restore")
}

func TestBackupOfAMissingClusterFails(t *testing.T) {
	f := newFixture(t, newBackup("nightly"), credentials())

	f.syncBackup("nightly")
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupFailed, b.Status.Phase)
	require.Equal(t, "RedisCluster cache not found", b.Status.Message)
	require.Equal(t, now, b.Status.CompletionTime.Time)
}

func TestSteadyClusterStartsTheBackupWithItsShards(t *testing.T) {
	f := newFixture(t, readyCluster(), newBackup("nightly"), credentials())

	require.Zero(t, f.syncBackup("nightly"))
	b := f.backup("nightly")
	require.Equal(t, redisv1beta1.BackupRunning, b.Status.Phase)
	require.Empty(t, b.Status.Message)
	require.NotNil(t, b.Status.StartTime)
	require.Equal(t, now, b.Status.StartTime.Time)
	require.Equal(t, "s3://bucket/backups/redis/prod/nightly/", b.Status.Location)
	want := destination()
	require.Equal(t, &want, b.Status.Destination)

	require.EqualValues(t, 3, b.Status.ShardCount)
	require.Equal(t, []redisv1beta1.BackupShard{
		{Index: 0, Slots: []string{"0-5460"}, NodeID: "m-low", Source: "10.0.0.4:7003,10.0.0.2:7001",
			Object: "backups/redis/prod/nightly/shard-0.rdb"},
		// Its replica is not ready: only the master is a source.
		{Index: 1, Slots: []string{"16000-16383", "5461-10922"}, NodeID: "m-mid", Source: "10.0.0.3:7002",
			Object: "backups/redis/prod/nightly/shard-1.rdb"},
		{Index: 2, Slots: []string{"10923-15999"}, NodeID: "m-high", Source: "10.0.0.6:7005,10.0.0.1:7000",
			Object: "backups/redis/prod/nightly/shard-2.rdb"},
	}, b.Status.Shards)

	// The shards are on record before any Job is made.
	require.Empty(t, f.createdJobs())
	events := f.events()
	require.Len(t, events, 1)
	require.Contains(t, events[0], "Normal BackupStarted streaming 3 shards of cache to s3://bucket/backups/redis/prod/nightly/")
}

func TestBackupDestinationOfItsOwnWins(t *testing.T) {
	b := newBackup("nightly")
	b.Spec.Destination = &redisv1beta1.BackupDestination{Endpoint: "s3.example", Bucket: "other", CredentialsSecret: "s3-creds"}
	f := newFixture(t, readyCluster(), b, credentials())

	f.syncBackup("nightly")
	got := f.backup("nightly")
	require.Equal(t, "s3://other/prod/nightly/", got.Status.Location)
	require.Equal(t, "other", got.Status.Destination.Bucket)
	require.Equal(t, "prod/nightly/shard-0.rdb", got.Status.Shards[0].Object)
}

// running starts backup "nightly" of rc, then syncs it again to create its Jobs, which it
// returns, in the indexer.
func running(t *testing.T, rc *redisv1beta1.RedisCluster) (*fixture, []*batchv1.Job) {
	t.Helper()
	f := newFixture(t, rc, newBackup("nightly"), credentials())
	f.syncBackup("nightly")
	f.observe("nightly")
	require.Zero(t, f.syncBackup("nightly"))
	jobs := f.createdJobs()
	for _, j := range jobs {
		f.update(j)
	}
	return f, jobs
}

// flags maps each --flag of args to its value ("" for a flag without one).
func flags(t *testing.T, args []string) map[string]string {
	t.Helper()
	require.Equal(t, "backup-shard", args[0])
	out := map[string]string{}
	for i := 1; i < len(args); i++ {
		require.True(t, strings.HasPrefix(args[i], "--"), "argument %q", args[i])
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out[args[i]] = args[i+1]
			i++
		} else {
			out[args[i]] = ""
		}
	}
	return out
}

func envVar(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}

func TestRunningBackupCreatesOneJobPerShard(t *testing.T) {
	f, jobs := running(t, readyCluster())
	b := f.backup("nightly")
	require.Len(t, jobs, 3)

	wantSources := []string{"10.0.0.4:7003,10.0.0.2:7001", "10.0.0.3:7002", "10.0.0.6:7005,10.0.0.1:7000"}
	wantSlots := []string{"0-5460", "16000-16383,5461-10922", "10923-15999"}
	for i, j := range jobs {
		require.Equal(t, jobName(b, int32(i)), j.Name)
		require.Equal(t, ns, j.Namespace)
		require.Equal(t, backupUID, j.Labels[LabelBackupUID])
		require.Equal(t, "nightly", j.Annotations[annotationBackup])
		require.Len(t, j.OwnerReferences, 1)
		owner := j.OwnerReferences[0]
		require.Equal(t, "RedisClusterBackup", owner.Kind)
		require.Equal(t, "nightly", owner.Name)
		require.EqualValues(t, backupUID, owner.UID)
		require.True(t, *owner.Controller)

		pod := j.Spec.Template.Spec
		require.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
		require.True(t, pod.HostNetwork)
		require.Len(t, pod.Containers, 1)
		require.Equal(t, "operator:test", pod.Containers[0].Image)
		args := flags(t, pod.Containers[0].Args)
		require.Equal(t, wantSources[i], args["--sources"])
		require.Equal(t, []string{"0", "1", "2"}[i], args["--shard"])
		require.Equal(t, wantSlots[i], args["--slots"])
		require.Equal(t, b.Status.Shards[i].NodeID, args["--node-id"])
		require.Equal(t, "nightly", args["--backup"])
		require.Equal(t, "backups/redis/prod", args["--prefix"])
		require.Equal(t, "bucket", args["--bucket"])
		require.Equal(t, "minio:9000", args["--endpoint"])
		require.NotContains(t, args, "--insecure")

		env := pod.Containers[0].Env
		for name, key := range map[string]string{"AWS_ACCESS_KEY_ID": "accessKeyID", "AWS_SECRET_ACCESS_KEY": "secretAccessKey"} {
			v := envVar(env, name)
			require.NotNil(t, v, name)
			require.Equal(t, "s3-creds", v.ValueFrom.SecretKeyRef.Name)
			require.Equal(t, key, v.ValueFrom.SecretKeyRef.Key)
		}
		require.Nil(t, envVar(env, "REDIS_PASSWORD"))
	}

	// With every Job there and none ended, another sync makes no more and the backup runs on.
	f.syncBackup("nightly")
	require.Len(t, f.createdJobs(), 3)
	require.Equal(t, redisv1beta1.BackupRunning, f.backup("nightly").Status.Phase)
}

func TestJobsReadThePasswordOnlyWhenTheClusterHasOne(t *testing.T) {
	rc := readyCluster()
	rc.Spec.PasswordSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cache-auth"}, Key: "password"}
	_, jobs := running(t, rc)
	require.Len(t, jobs, 3)
	for _, j := range jobs {
		v := envVar(j.Spec.Template.Spec.Containers[0].Env, "REDIS_PASSWORD")
		require.NotNil(t, v)
		require.Equal(t, "cache-auth", v.ValueFrom.SecretKeyRef.Name)
		require.Equal(t, "password", v.ValueFrom.SecretKeyRef.Key)
	}
}

func TestJobsMountTheNodeCertificateOnlyWhenTheClusterRunsTLS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tls   bool   // spec.tls set
		links string // status.links
		want  bool
	}{
		{"plain", false, "", false},
		{"spec.tls before status.links", true, "", true},
		{"spec.tls added, links still plain", true, redisv1beta1.LinksPlain, false},
		{"spec.tls removed, links still TLS", false, redisv1beta1.LinksTLS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := readyCluster()
			if tc.tls {
				rc.Spec.TLS = &redisv1beta1.TLSSpec{}
			}
			rc.Status.Links = tc.links
			_, jobs := running(t, rc)
			require.Len(t, jobs, 3)
			for _, j := range jobs {
				pod := j.Spec.Template.Spec
				args := flags(t, pod.Containers[0].Args)
				if !tc.want {
					require.Empty(t, pod.Volumes)
					require.Empty(t, pod.Containers[0].VolumeMounts)
					require.NotContains(t, args, "--tls-cert")
					continue
				}
				require.Len(t, pod.Volumes, 1)
				require.Equal(t, "cache-node-certificate", pod.Volumes[0].Secret.SecretName)
				require.Len(t, pod.Containers[0].VolumeMounts, 1)
				require.Equal(t, "/etc/redis-tls", pod.Containers[0].VolumeMounts[0].MountPath)
				require.Equal(t, "/etc/redis-tls/tls.crt", args["--tls-cert"])
				require.Equal(t, "/etc/redis-tls/tls.key", args["--tls-key"])
				require.Equal(t, "/etc/redis-tls/ca.crt", args["--tls-ca"])
			}
		})
	}
}
