package plan

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// liveObservation is a Ready 3x1 cluster whose pods recorded auth version and settings hash.
func liveObservation(secret *corev1.Secret, settings string, auth ...string) *Observation {
	return liveObservationOf(testcluster.Cluster("rc"), secret, settings, auth...)
}

// liveObservationOf is liveObservation of rc, whose pods are built from its spec.
func liveObservationOf(rc *redisv1beta1.RedisCluster, secret *corev1.Secret, settings string, auth ...string) *Observation {
	in := clusterFixture(3, 1, testcluster.Healthy()...)
	o := &Observation{Cluster: rc, View: in.View, ConfigSecret: secret, Pods: map[int]*corev1.Pod{}}
	for i := range 6 {
		pod := objects.Pod(rc, i)
		pod.Annotations[objects.AnnotationSettings], pod.Annotations[objects.AnnotationAuth] = settings, auth[i%len(auth)]
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: in.Members[i].IP,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		o.Pods[i] = pod
	}
	return o
}

func liveKinds(o *Observation) []string {
	var out []string
	for _, a := range planLive(o, plannerInput(o.Cluster, o)) {
		switch a := a.(type) {
		case ApplySettings:
			out = append(out, "settings")
		case ApplyPassword:
			if a.Drop {
				out = append(out, "drop "+a.Password)
			} else {
				out = append(out, "add "+a.Password)
			}
		default:
			out = append(out, a.Why())
		}
	}
	return out
}

func TestLiveSettingsGoToNodesThatDidNotTakeThem(t *testing.T) {
	rc := testcluster.Cluster("rc")
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	require.Empty(t, liveKinds(liveObservation(secret, objects.SettingsHash(rc, nil), "0")))
	require.Len(t, liveKinds(liveObservation(secret, "older", "0")), 6)
	require.Empty(t, liveKinds(liveObservation(secret, objects.RestartPrefix+objects.SettingsHash(rc, nil), "0")), "left to the rolling update")

	rc.Spec.MaxMemory = "1gb"
	require.NotEqual(t, objects.SettingsHash(testcluster.Cluster("rc"), nil), objects.SettingsHash(rc, nil))
}

// The exporter logs in as a user of its own: the password the observation brings (made once
// by the controller) is kept through every change, and nodes from before it (an older settings
// hash) get the user live.
func TestExporterUserOutlivesPasswordChanges(t *testing.T) {
	rc := testcluster.Cluster("rc")
	first := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	changed := objects.ConfigSecret(rc, "new", objects.MonitorPassword(first), nil, first, false)
	rc.Spec.MaxMemory = "1gb"
	changed = objects.ConfigSecret(rc, "", objects.MonitorPassword(changed), nil, changed, true)
	require.Equal(t, "exporter-secret", objects.MonitorPassword(changed))

	o := liveObservation(changed, "from-before-the-exporter-user", objects.AuthVersion(changed))
	actions := planLive(o, plannerInput(o.Cluster, o))
	require.Len(t, actions, 6)
	for _, a := range actions {
		require.Equal(t, "exporter-secret", a.(ApplySettings).MonitorPassword)
	}
}

func TestPasswordChangeAddsEverywhereBeforeDroppingTheOld(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.PasswordSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "pw"}
	first := objects.ConfigSecret(rc, "old", "exporter-secret", nil, nil, false)
	require.Equal(t, "0", objects.AuthVersion(first))
	require.False(t, objects.Rotating(first))
	require.Equal(t, []string{"old"}, objects.Passwords(first, "ignored"))

	changing := objects.ConfigSecret(rc, "new", "exporter-secret", nil, first, false)
	require.Equal(t, "1", objects.AuthVersion(changing))
	require.Equal(t, []string{"new", "old"}, objects.Passwords(changing, "new"), "either works while nodes change")
	require.Contains(t, string(changing.Data[objects.ConfigFileKey]), `requirepass "new"`, "a node restarting now starts with the new one")

	hash := objects.SettingsHash(rc, nil)
	require.Equal(t, []string{"add new", "add new", "add new", "add new", "add new", "add new"}, liveKinds(liveObservation(changing, hash, "0")))
	require.Equal(t, []string{"add new", "add new", "add new"}, liveKinds(liveObservation(changing, hash, "0", "1:added")),
		"no node drops the old one while another does not take the new one")
	require.Equal(t, []string{"drop new", "drop new", "drop new", "drop new", "drop new", "drop new"}, liveKinds(liveObservation(changing, hash, "1:added")))

	o := liveObservation(changing, hash, "1")
	require.Empty(t, liveKinds(o))
	require.True(t, rotated(o))
	done := objects.ConfigSecret(rc, "new", "exporter-secret", nil, changing, true)
	require.False(t, objects.Rotating(done), "the previous password is forgotten")
	require.Equal(t, "1", objects.AuthVersion(done))

	removed := objects.ConfigSecret(&redisv1beta1.RedisCluster{ObjectMeta: rc.ObjectMeta, Spec: testcluster.Cluster("rc").Spec}, "", "exporter-secret", nil, done, false)
	require.Equal(t, []string{"", "new"}, objects.Passwords(removed, ""))
	require.NotContains(t, string(removed.Data[objects.ConfigFileKey]), "requirepass")
}

func TestANewStorageClassRollsNodesOntoNewClaims(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true, StorageClass: ptr.To("fast")}
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	o := liveObservation(secret, objects.SettingsHash(rc, nil), "0")
	o.Cluster = rc
	for i, pod := range o.Pods {
		o.Pods[i] = objects.Pod(rc, i)
		for k, v := range objects.LiveAnnotations(rc, secret) {
			o.Pods[i].Annotations[k] = v
		}
		o.Pods[i].Status = pod.Status
	}
	o.DiscardClaims = map[int]string{3: "data-rc-3"}
	in := plannerInput(rc, o)
	require.True(t, in.Members[3].Outdated, "its claim is of the old class")
	require.False(t, in.Members[4].Outdated)

	delete(o.Pods, 3)
	o.ClaimsGoing = map[int]bool{3: true}
	require.NotContains(t, Decide(o).CreatePods, 3, "not while the old claim is going")
	o.ClaimsGoing = nil
	require.Contains(t, Decide(o).CreateClaims, 3)
	require.Contains(t, Decide(o).CreatePods, 3)
}

// A node that missed a change (stopped while the password went first ->
// second) still takes first only when the next change (-> third) starts. Every password a node
// may still hold stays in the config Secret, so the operator still logs in to it, until every
// node took the newest change.
func TestASecondPasswordChangeKeepsThePasswordANodeThatMissedTheFirstHolds(t *testing.T) {
	rc := testcluster.Cluster("rc")
	hash := objects.SettingsHash(rc, nil)
	first := objects.ConfigSecret(rc, "first", "exporter-secret", nil, nil, false)
	second := objects.ConfigSecret(rc, "second", "exporter-secret", nil, first, false)
	missed := liveObservation(second, hash, "1:added", "1:added", "1:added", "0", "1:added", "1:added")
	require.False(t, rotated(missed))

	third := objects.ConfigSecret(rc, "third", "exporter-secret", nil, second, rotated(missed))
	require.Equal(t, "2", objects.AuthVersion(third))
	require.Equal(t, []string{"third", "second", "first"}, objects.Passwords(third, "third"), "node 3 takes first only")

	o := liveObservation(third, hash, "2:added", "2:added", "2:added", "0", "2:added", "2:added")
	require.Equal(t, []string{"add third"}, liveKinds(o), "node 3 takes third once it answers, nobody drops before")
	o = liveObservation(third, hash, "2:added")
	require.Len(t, liveKinds(o), 6)
	o = liveObservation(third, hash, "2")
	require.True(t, rotated(o))
	done := objects.ConfigSecret(rc, "third", "exporter-secret", nil, third, true)
	require.False(t, objects.Rotating(done))
	require.Equal(t, []string{"third"}, objects.Passwords(done, "third"))
}

// The next change may arrive in the very sync that sees the last one finished: the password
// every node took then is held, not forgotten with the older ones.
func TestAPasswordChangeArrivingAsTheLastFinishesHoldsThePasswordNodesTook(t *testing.T) {
	rc := testcluster.Cluster("rc")
	first := objects.ConfigSecret(rc, "first", "exporter-secret", nil, nil, false)
	second := objects.ConfigSecret(rc, "second", "exporter-secret", nil, first, false)
	o := liveObservation(second, objects.SettingsHash(rc, nil), "1")
	require.True(t, rotated(o))

	third := objects.ConfigSecret(rc, "third", "exporter-secret", nil, second, rotated(o))
	require.True(t, objects.Rotating(third))
	require.Equal(t, []string{"third", "second"}, objects.Passwords(third, "third"), "every node takes second only")
}

// A Secret an older operator wrote mid-change holds the password before under its former key.
func TestAChangeAnOlderOperatorStartedKeepsItsPreviousPassword(t *testing.T) {
	rc := testcluster.Cluster("rc")
	older := objects.ConfigSecret(rc, "new", "exporter-secret", nil, nil, false)
	older.Data[objects.AuthVersionKey] = []byte("1")
	older.Data["previous-password"] = []byte("old")
	require.True(t, objects.Rotating(older))
	require.Equal(t, []string{"new", "old"}, objects.Passwords(older, "new"))
	next := objects.ConfigSecret(rc, "newer", "exporter-secret", nil, older, false)
	require.Equal(t, []string{"newer", "new", "old"}, objects.Passwords(next, "newer"))
}
