package backups

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// scheduledCluster is the ready cluster, created ten minutes ago, backed up every minute.
func scheduledCluster() *redisv1beta1.RedisCluster {
	rc := readyCluster()
	rc.Spec.Backup.Schedule = "*/1 * * * *"
	return rc
}

// at is the time of minute m past 11:00 on now's day.
func at(m int) time.Time { return time.Date(2024, 5, 1, 11, m, 0, 0, time.UTC) }

// scheduled is the backup the schedule took at t, in phase; one that started has a location.
func scheduled(t time.Time, phase string) *redisv1beta1.RedisClusterBackup {
	name := clusterName + "-" + t.Format("20060102-150405")
	b := &redisv1beta1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name),
			Labels:      map[string]string{LabelScheduledBy: clusterName},
			Annotations: map[string]string{AnnotationScheduledAt: t.Format(time.RFC3339)}},
		Spec:   redisv1beta1.RedisClusterBackupSpec{ClusterName: clusterName},
		Status: redisv1beta1.RedisClusterBackupStatus{Phase: phase},
	}
	if phase == redisv1beta1.BackupSucceeded || phase == redisv1beta1.BackupRunning {
		b.Status.Location = "s3://bucket/backups/redis/prod/" + name + "/"
	}
	return b
}

func (f *fixture) syncSchedule() (time.Duration, error) {
	return f.c.syncSchedule(context.Background(), cache.ObjectName{Namespace: ns, Name: clusterName})
}

// createdBackups are the backups the controller created.
func (f *fixture) createdBackups() []*redisv1beta1.RedisClusterBackup {
	var out []*redisv1beta1.RedisClusterBackup
	for _, a := range writes(f.redis.Actions(), "create", "redisclusterbackups") {
		out = append(out, a.(core.CreateAction).GetObject().(*redisv1beta1.RedisClusterBackup))
	}
	return out
}

// deletedBackups are the names of the backups the controller deleted.
func (f *fixture) deletedBackups() []string {
	var out []string
	for _, a := range writes(f.redis.Actions(), "delete", "redisclusterbackups") {
		out = append(out, a.(core.DeleteAction).GetName())
	}
	return out
}

// remaining are the names of the backups the API server still holds.
func (f *fixture) remaining() []string {
	list, err := f.redis.RedisV1beta1().RedisClusterBackups(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(f.t, err)
	var out []string
	for _, b := range list.Items {
		out = append(out, b.Name)
	}
	return out
}

func TestScheduleTakesTheLatestDueBackup(t *testing.T) {
	// A backup taken by hand, still running, does not hold the schedule back.
	byHand := newBackup("by-hand")
	byHand.Status.Phase = redisv1beta1.BackupRunning
	f := newFixture(t, scheduledCluster(), byHand, credentials())

	requeue, err := f.syncSchedule()
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, requeue, "the next minute")

	created := f.createdBackups()
	require.Len(t, created, 1, "only the latest of the ten due times")
	b := created[0]
	require.Equal(t, "cache-20240501-120000", b.Name)
	require.Equal(t, ns, b.Namespace)
	require.Equal(t, map[string]string{LabelScheduledBy: clusterName}, b.Labels)
	require.Equal(t, map[string]string{AnnotationScheduledAt: "2024-05-01T12:00:00Z"}, b.Annotations)
	require.Equal(t, clusterName, b.Spec.ClusterName)
	require.Nil(t, b.Spec.Destination)
	require.ElementsMatch(t, []string{"by-hand", "cache-20240501-120000"}, f.remaining())
	require.Empty(t, f.deletedBackups())
}

func TestScheduleTakesNothingBeforeTheNextDueTime(t *testing.T) {
	f := newFixture(t, scheduledCluster(), scheduled(now.Truncate(time.Minute), redisv1beta1.BackupSucceeded), credentials())

	requeue, err := f.syncSchedule()
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, requeue)
	require.Empty(t, f.createdBackups())
}

func TestScheduleWaitsForItsRunningBackup(t *testing.T) {
	f := newFixture(t, scheduledCluster(), scheduled(at(55), redisv1beta1.BackupRunning), credentials())

	requeue, err := f.syncSchedule()
	require.NoError(t, err)
	require.Equal(t, busyRecheck, requeue)
	require.Equal(t, 10*time.Second, requeue)
	require.Empty(t, f.createdBackups())
	require.Empty(t, f.deletedBackups())
}

func TestSchedulePrunesSucceededBackupsBeyondKeep(t *testing.T) {
	rc := scheduledCluster()
	rc.Spec.Backup.Keep = 7
	// A succeeded backup taken by hand, older than all, is never pruned.
	byHand := newBackup("by-hand")
	byHand.Status = redisv1beta1.RedisClusterBackupStatus{Phase: redisv1beta1.BackupSucceeded,
		Location: "s3://bucket/backups/redis/prod/by-hand/"}
	objs := []runtime.Object{rc, credentials(), byHand}
	for m := 51; m <= 59; m++ {
		objs = append(objs, scheduled(at(m), redisv1beta1.BackupSucceeded))
	}
	f := newFixture(t, objs...)

	_, err := f.syncSchedule()
	require.NoError(t, err)

	gone := []string{"cache-20240501-115100", "cache-20240501-115200"}
	require.ElementsMatch(t, gone, f.store.deleted, "objects deleted from the store")
	require.ElementsMatch(t, gone, f.deletedBackups(), "resources deleted")
	require.Equal(t, []string{"backups/redis/prod", "backups/redis/prod"}, f.store.opened)
	require.ElementsMatch(t, []string{"by-hand",
		"cache-20240501-115300", "cache-20240501-115400", "cache-20240501-115500", "cache-20240501-115600",
		"cache-20240501-115700", "cache-20240501-115800", "cache-20240501-115900",
		"cache-20240501-120000", // due now
	}, f.remaining())

	var pruned int
	for _, e := range f.events() {
		if strings.Contains(e, "Normal BackupPruned deleted backup cache-20240501-115") {
			pruned++
		}
	}
	require.Equal(t, 2, pruned)
}

func TestSchedulePrunesFailuresOlderThanTheNewestSuccess(t *testing.T) {
	failedStarted := scheduled(at(55), redisv1beta1.BackupFailed)
	failedStarted.Status.Location = "s3://bucket/backups/redis/prod/" + failedStarted.Name + "/"
	f := newFixture(t, scheduledCluster(), credentials(),
		scheduled(at(54), redisv1beta1.BackupFailed), // never started: no objects
		failedStarted,
		scheduled(at(57), redisv1beta1.BackupSucceeded),
		scheduled(at(58), redisv1beta1.BackupFailed),
		scheduled(at(59), redisv1beta1.BackupFailed),
	)

	_, err := f.syncSchedule()
	require.NoError(t, err)

	require.Equal(t, []string{"cache-20240501-115500"}, f.store.deleted, "only a backup that started has objects")
	require.ElementsMatch(t, []string{"cache-20240501-115400", "cache-20240501-115500"}, f.deletedBackups())
	require.ElementsMatch(t, []string{"cache-20240501-115700", "cache-20240501-115800", "cache-20240501-115900",
		"cache-20240501-120000"}, f.remaining())
}

func TestPruneKeepsABackupWhoseObjectsCannotBeDeleted(t *testing.T) {
	rc := scheduledCluster()
	rc.Spec.Backup.Keep = 1
	f := newFixture(t, rc, credentials(),
		scheduled(at(58), redisv1beta1.BackupSucceeded),
		scheduled(now.Truncate(time.Minute), redisv1beta1.BackupSucceeded))
	f.store.deleteErr = errors.New("access denied")

	_, err := f.syncSchedule()
	require.ErrorContains(t, err, "pruning backup cache-20240501-115800: access denied")
	require.Empty(t, f.deletedBackups())
	require.Len(t, f.remaining(), 2)
}

func TestInvalidScheduleIsAWarningAndTakesNothing(t *testing.T) {
	rc := scheduledCluster()
	rc.Spec.Backup.Schedule = "every tuesday"
	f := newFixture(t, rc, credentials())

	requeue, err := f.syncSchedule()
	require.NoError(t, err)
	require.Zero(t, requeue)
	require.Empty(t, f.createdBackups())
	events := f.events()
	require.Len(t, events, 1)
	require.Contains(t, events[0], `Warning InvalidBackupSchedule spec.backup.schedule "every tuesday"`)
}
