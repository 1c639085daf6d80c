package controller

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// liveObservation is a Ready 3x1 cluster whose pods recorded auth version and settings hash.
func liveObservation(secret *corev1.Secret, settings string, auth ...string) *Observation {
	rc := newCluster("rc")
	in := clusterFixture(3, 1, healthy()...)
	o := &Observation{Cluster: rc, View: in.View, ConfigSecret: secret, Pods: map[int]*corev1.Pod{}}
	for i := range 6 {
		pod := Pod(rc, i)
		pod.Annotations[AnnotationSettings], pod.Annotations[AnnotationAuth] = settings, auth[i%len(auth)]
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
	rc := newCluster("rc")
	secret := ConfigSecret(rc, "", nil, false)
	require.Empty(t, liveKinds(liveObservation(secret, SettingsHash(rc), "0")))
	require.Len(t, liveKinds(liveObservation(secret, "older", "0")), 6)
	require.Empty(t, liveKinds(liveObservation(secret, RestartPrefix+SettingsHash(rc), "0")), "left to the rolling update")

	rc.Spec.MaxMemory = "1gb"
	require.NotEqual(t, SettingsHash(newCluster("rc")), SettingsHash(rc))
}

// The exporter logs in as a user of its own: its password is made once and kept through every
// change, and nodes from before it (an older settings hash) get the user live.
func TestExporterUserOutlivesPasswordChanges(t *testing.T) {
	rc := newCluster("rc")
	first := ConfigSecret(rc, "", nil, false)
	monitor := string(first.Data[MonitorPasswordKey])
	require.NotEmpty(t, monitor)
	require.NotEqual(t, monitor, string(ConfigSecret(rc, "", nil, false).Data[MonitorPasswordKey]), "each cluster its own")
	changed := ConfigSecret(rc, "new", first, false)
	rc.Spec.MaxMemory = "1gb"
	changed = ConfigSecret(rc, "", changed, true)
	require.Equal(t, monitor, string(changed.Data[MonitorPasswordKey]))

	beforeExporterUser := ConfigSecret(rc, "", nil, false)
	delete(beforeExporterUser.Data, MonitorPasswordKey)
	require.NotEmpty(t, ConfigSecret(rc, "", beforeExporterUser, false).Data[MonitorPasswordKey], "made for a Secret from before")

	o := liveObservation(changed, "from-before-the-exporter-user", AuthVersion(changed))
	actions := planLive(o, plannerInput(o.Cluster, o))
	require.Len(t, actions, 6)
	for _, a := range actions {
		require.Equal(t, monitor, a.(ApplySettings).MonitorPassword)
	}
}

func TestPasswordChangeAddsEverywhereBeforeDroppingTheOld(t *testing.T) {
	rc := newCluster("rc")
	rc.Spec.PasswordSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "pw"}
	first := ConfigSecret(rc, "old", nil, false)
	require.Equal(t, "0", AuthVersion(first))
	require.False(t, Rotating(first))
	require.Equal(t, []string{"old"}, Passwords(first, "ignored"))

	changing := ConfigSecret(rc, "new", first, false)
	require.Equal(t, "1", AuthVersion(changing))
	require.Equal(t, []string{"new", "old"}, Passwords(changing, "new"), "either works while nodes change")
	require.Contains(t, string(changing.Data[ConfigFileKey]), `requirepass "new"`, "a node restarting now starts with the new one")

	hash := SettingsHash(rc)
	require.Equal(t, []string{"add new", "add new", "add new", "add new", "add new", "add new"}, liveKinds(liveObservation(changing, hash, "0")))
	require.Equal(t, []string{"add new", "add new", "add new"}, liveKinds(liveObservation(changing, hash, "0", "1:added")),
		"no node drops the old one while another does not take the new one")
	require.Equal(t, []string{"drop new", "drop new", "drop new", "drop new", "drop new", "drop new"}, liveKinds(liveObservation(changing, hash, "1:added")))

	o := liveObservation(changing, hash, "1")
	require.Empty(t, liveKinds(o))
	require.True(t, rotated(o))
	done := ConfigSecret(rc, "new", changing, true)
	require.False(t, Rotating(done), "the previous password is forgotten")
	require.Equal(t, "1", AuthVersion(done))

	removed := ConfigSecret(&redisv1beta1.RedisCluster{ObjectMeta: rc.ObjectMeta, Spec: newCluster("rc").Spec}, "", done, false)
	require.Equal(t, []string{"", "new"}, Passwords(removed, ""))
	require.NotContains(t, string(removed.Data[ConfigFileKey]), "requirepass")
}

func TestANewStorageClassRollsNodesOntoNewClaims(t *testing.T) {
	rc := newCluster("rc")
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true, StorageClass: ptr.To("fast")}
	secret := ConfigSecret(rc, "", nil, false)
	o := liveObservation(secret, SettingsHash(rc), "0")
	o.Cluster = rc
	for i, pod := range o.Pods {
		o.Pods[i] = Pod(rc, i)
		for k, v := range LiveAnnotations(rc, secret) {
			o.Pods[i].Annotations[k] = v
		}
		o.Pods[i].Status = pod.Status
	}
	o.OtherClass = map[int]string{3: "data-rc-3"}
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
