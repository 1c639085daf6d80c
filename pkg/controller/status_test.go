package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
