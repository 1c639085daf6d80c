package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// A node whose container restarted on a config file from
// before the change runs an older password while its pod records the change. It takes the new
// one again, and the older passwords are held until it has, and for a grace after every node
// took the change (a restart meanwhile may read a file the kubelet has not refreshed yet).
func TestANodeBackOnAnOlderPasswordTakesTheNewOneAndTheOlderAreHeldMeanwhile(t *testing.T) {
	rc := testcluster.Cluster("rc")
	hash := objects.SettingsHash(rc, nil)
	first := objects.ConfigSecret(rc, "first", "exporter-secret", nil, nil, false)
	second := objects.ConfigSecret(rc, "second", "exporter-secret", nil, first, false)
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)

	o := liveObservation(second, hash, "1")
	o.Now, o.Password, o.MonitorPassword = now, "second", "exporter-secret"
	settled, forget, left := heldPasswords(o)
	require.True(t, settled)
	require.False(t, forget, "the older passwords outlive the change by a grace")
	require.Equal(t, objects.HeldPasswordsGrace, left)
	d := Decide(o)
	require.NotNil(t, d.ConfigSecret)
	require.Equal(t, []string{"second", "first"}, objects.Passwords(d.ConfigSecret, "second"))
	require.Equal(t, now, objects.SettledAt(d.ConfigSecret))
	require.LessOrEqual(t, d.Requeue, objects.HeldPasswordsGrace)

	o = liveObservation(d.ConfigSecret, hash, "1")
	o.Now = now.Add(time.Minute)
	o.View.Nodes[testcluster.Addr(2)].OlderPassword = true
	require.False(t, rotated(o), "node 2 runs first")
	require.Equal(t, []string{"add second"}, liveKinds(o))

	o = liveObservation(d.ConfigSecret, hash, "1")
	o.Now, o.Password, o.MonitorPassword = now.Add(objects.HeldPasswordsGrace), "second", "exporter-secret"
	_, forget, _ = heldPasswords(o)
	require.True(t, forget)
	d = Decide(o)
	require.NotNil(t, d.ConfigSecret)
	require.False(t, objects.Rotating(d.ConfigSecret))
	require.Equal(t, []string{"second"}, objects.Passwords(d.ConfigSecret, "second"))
}
