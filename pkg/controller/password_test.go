package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// changingFixture is a healthy 3x1 cluster whose password goes from before to after ("" for
// none), every pod recording auth.
func changingFixture(t *testing.T, before, after, auth string) *fixture {
	rc := testcluster.Cluster("rc")
	if after != "" {
		rc.Spec.PasswordSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "pw"}
	}
	f := liveFixture(t, rc, testcluster.Healthy()...)
	monitor := objects.MonitorPassword(f.secrets[0])
	f.secrets[0] = objects.ConfigSecret(rc, after, monitor, nil, objects.ConfigSecret(rc, before, monitor, nil, nil, false), false)
	f.secrets = append(f.secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: rc.Namespace},
		Data: map[string][]byte{"pw": []byte(after)}})
	for _, pod := range f.pods {
		pod.Annotations[objects.AnnotationAuth] = auth
	}
	f.runSync(keyOf(rc))
	return f
}

// While a change runs, each node gives its master a password that master
// takes before and after its own first step, so a replication link that drops meanwhile comes
// back: the old one, not the none a removal goes to.
func TestAPasswordChangeKeepsReplicasGivingAPasswordTheirMasterTakes(t *testing.T) {
	for _, c := range []struct{ before, after, add, masterAuth string }{
		{"old", "", "setpassword", "old"}, // the node takes any password at once, the old one too
		{"old", "new", "addpassword", "old"},
		{"", "new", "addpassword", "new"}, // a node without a password takes any
	} {
		writes := changingFixture(t, c.before, c.after, "0").redis.writes()
		require.Len(t, writes, 12, "%v", writes)
		for i := range 6 {
			addr := testcluster.Addr(i)
			require.Equal(t, []string{fmt.Sprintf("%s %s %s", c.add, addr, c.after), fmt.Sprintf("setmasterauth %s %s", addr, c.masterAuth)},
				writes[2*i:2*i+2], "%s -> %s, node %d", c.before, c.after, i)
		}
	}
}

// In the last step, replicas give their masters the new password before the masters stop
// taking the old one.
func TestReplicasTakeTheLastStepOfAPasswordChangeBeforeMasters(t *testing.T) {
	for _, after := range []string{"", "new"} {
		writes := changingFixture(t, "old", after, "1"+objects.AddedSuffix).redis.writes()
		require.Len(t, writes, 12, "%v", writes)
		var order []string
		for _, w := range writes {
			require.True(t, strings.HasSuffix(w, " "+after), w)
			if addr := strings.Fields(w)[1]; !slices.Contains(order, addr) {
				order = append(order, addr)
			}
		}
		require.Equal(t, []string{testcluster.Addr(3), testcluster.Addr(4), testcluster.Addr(5),
			testcluster.Addr(0), testcluster.Addr(1), testcluster.Addr(2)}, order, "replicas first")
		require.True(t, strings.HasPrefix(writes[0], "setmasterauth"), "a node gives its master the new password first")
	}
}
