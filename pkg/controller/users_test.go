package controller

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops/conf"
)

// SetUsers is recorded with the users' names; the fake node then lists one line per user.
func (r *fakeRedis) SetUsers(_ context.Context, addr string, users map[string][]string, keep ...string) ([]string, error) {
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	slices.Sort(names)
	r.record("setusers %s %s", addr, strings.Join(names, ","))
	listing := make([]string, len(names))
	for i, name := range names {
		listing[i] = "user " + name + " " + strings.Join(users[name], " ")
	}
	return listing, nil
}

// writtenConfig is the config Secret a sync wrote, nil when it wrote none.
func writtenConfig(actions []core.Action) *corev1.Secret {
	var out *corev1.Secret
	for _, a := range actions {
		if w, ok := a.(interface{ GetObject() runtime.Object }); ok {
			if s, ok := w.GetObject().(*corev1.Secret); ok && strings.HasSuffix(s.Name, "-config") {
				out = s
			}
		}
	}
	return out
}

func appUser(rules ...string) redisv1beta1.UserSpec {
	return redisv1beta1.UserSpec{Name: "app", Rules: rules,
		PasswordSecret: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "app-password"}, Key: "password"}}
}

// A user gets its password from its Secret, by SHA-256 only, tried on one node before the
// config file holds it, then set on every node. When its Secret goes, the user stays as the
// nodes have it and Degraded says why: deleting a Secret by mistake locks no client out.
func TestUsersTakeTheirSecretsAndAMissingSecretKeepsTheUser(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Users = []redisv1beta1.UserSpec{appUser("~app:*", "+@all")}
	f := liveFixture(t, rc, testcluster.Healthy()...)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-password", Namespace: rc.Namespace},
		Data: map[string][]byte{"password": []byte("app-secret")}}
	f.secrets = append(f.secrets, secret)
	config := writtenConfig(f.runSync(keyOf(rc)))
	require.NotNil(t, config)
	want := conf.User{Name: "app", Rules: []string{"~app:*", "+@all"}, PasswordSHA256: conf.PasswordSHA256("app-secret")}
	require.Equal(t, []conf.User{want}, objects.Users(config))
	require.Contains(t, string(config.Data[objects.ConfigFileKey]), "user app reset on #"+want.PasswordSHA256+" ~app:* +@all\n")
	require.NotContains(t, string(config.Data[objects.ConfigFileKey]), "app-secret")

	require.Equal(t, []string{"setuser " + testcluster.Addr(0) + " app on #" + want.PasswordSHA256 + " ~app:* +@all"}, f.redis.writes(), "tried first")

	// The next sync, with the config Secret written: every node gets the users.
	f = liveFixture(t, rc, testcluster.Healthy()...)
	f.secrets = append(f.secrets, secret)
	f.secrets[0] = config
	f.runSync(keyOf(rc))
	var set []string
	for _, w := range f.redis.writes() {
		if strings.HasPrefix(w, "setusers ") {
			set = append(set, w)
		}
	}
	require.Len(t, set, 6)
	require.Equal(t, "setusers "+testcluster.Addr(5)+" app", set[5])

	rc.Spec.Users[0].Rules = []string{"~app:*", "+@read"}
	f = liveFixture(t, rc, testcluster.Healthy()...)
	f.secrets[0] = config
	actions := f.runSync(keyOf(rc))
	status := statusOf(t, actions)
	degraded := meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionDegraded)
	require.Equal(t, plan.ReasonUserSecretHeld, degraded.Reason)
	require.Contains(t, degraded.Message, "user app: reading secret app-password")
	require.Contains(t, degraded.Message, "kept as the nodes have it")
	if rewritten := writtenConfig(actions); rewritten != nil {
		require.Equal(t, []conf.User{want}, objects.Users(rewritten), "the rules wait for the Secret with the password")
	}
}
