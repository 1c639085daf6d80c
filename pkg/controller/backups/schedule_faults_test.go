package backups

// Regression tests of two bugs of syncSchedule: both fail against the committed schedule.go.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// spec.backup.schedule is "a cron expression ... in UTC". The informer's metav1.Time is decoded
// with .Local(), so an operator whose local zone is not UTC sees the creation timestamp in its
// own zone; cron.ParseStandard schedules are evaluated in the zone of the time given to Next, so
// the first scheduled backup lands at 02:00 local (00:00 UTC) instead of 02:00 UTC.
func TestScheduleIsInUTCWhateverZoneTheCreationTimestampIsIn(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	rc := scheduledCluster()
	rc.Spec.Backup.Schedule = "0 2 * * *"
	rc.CreationTimestamp = metav1.NewTime(time.Date(2024, 4, 30, 12, 0, 0, 0, time.UTC).In(cest))
	f := newFixture(t, rc, credentials())
	f.c.cfg.Now = func() time.Time { return time.Date(2024, 5, 1, 2, 30, 0, 0, time.UTC) }

	_, err := f.syncSchedule()
	require.NoError(t, err)
	created := f.createdBackups()
	require.Len(t, created, 1)
	require.Equal(t, "2024-05-01T02:00:00Z", created[0].Annotations[AnnotationScheduledAt])
}

// syncSchedule walks from the last scheduled time (the cluster's creation when none) to now at
// most 100000 schedule steps: for a cluster older than 100000 periods of its schedule (69 days
// of "*/1 * * * *", 28 hours of "@every 1s"), whose schedule was just set, the backup it takes
// is for a time long past, not the latest due time.
func TestScheduleTakesTheLatestDueTimeOfAnOldCluster(t *testing.T) {
	rc := scheduledCluster()
	rc.CreationTimestamp = metav1.NewTime(now.Add(-100 * 24 * time.Hour))
	f := newFixture(t, rc, credentials())

	_, err := f.syncSchedule()
	require.NoError(t, err)
	created := f.createdBackups()
	require.Len(t, created, 1)
	require.Equal(t, "cache-20240501-120000", created[0].Name)
}
