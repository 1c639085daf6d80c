package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// A sync works from the status this process last wrote while the informer has not shown that
// write yet: a migration started then goes on under the record of what interrupted it before
// (a repair's notes, a failed batch), instead of the older status the lister still holds.
func TestASyncStartsFromTheStatusItLastWrote(t *testing.T) {
	rc, f := scaleOutFixture(t)
	c, _, _ := f.newController()

	written := rc.Status.DeepCopy()
	written.Migration = &redisv1beta1.MigrationStatus{SlotsPlanned: 4096,
		Interruptions: []string{"moving slots failed: target lost", "rolled slots 4096-4351 back"}}
	_, err := c.status.write(context.Background(), rc, *written, time.Now())
	require.NoError(t, err)
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))

	r := c.migrations.report(keyOf(rc), rc.UID)
	require.NotNil(t, r, "the scale-out started")
	require.Equal(t, written.Migration.Interruptions, r.Record.Interruptions)
}

// A task that ended before its record reached the status (the write was held back, or the
// informer lags) and the task the same sync starts after it: the new one goes on under the
// ended one's record, which is in the decision's status and not yet in the cluster's.
func TestATaskStartedAsTheLastEndsKeepsItsRecord(t *testing.T) {
	rc, f := scaleOutFixture(t)
	c, _, _ := f.newController()

	ended := &migrationTask{uid: rc.UID, cancel: func() {}, nodes: map[string]bool{}}
	ended.state = redisv1beta1.MigrationStatus{SlotsPlanned: 2, SlotsDone: 2,
		Interruptions: []string{"moving slots failed: target lost", "rolled slots 4096-4351 back"}}
	c.migrations.byCluster = map[cache.ObjectName]*migrationTask{keyOf(rc): ended}
	require.Nil(t, rc.Status.Migration, "the cluster's status never held the ended task's record")
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))

	r := c.migrations.report(keyOf(rc), rc.UID)
	require.NotNil(t, r, "the scale-out started")
	require.NotSame(t, ended, r.task)
	require.Equal(t, ended.state.Interruptions, r.Record.Interruptions)
}
