package e2e

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"redis-operator/test/e2e/framework"
)

var becameLeader = regexp.MustCompile(`"identity":"([^"]+)"[^\n]*became leader`)

// leaderIdentity returns the identity an operator logged when it became leader, if it did.
func leaderIdentity(op *framework.Operator) string {
	raw, err := os.ReadFile(op.LogPath)
	if err != nil {
		return ""
	}
	if m := becameLeader.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}

func TestLeaderElectionHandsOverOnShutdown(t *testing.T) {
	ns := f.Namespace(t, "leader")
	args := []string{"--leader-elect", "--leader-election-namespace", ns, "--leader-election-id", "redis-operator-test"}
	ops := []*framework.Operator{f.StartOperator(t, args...), f.StartOperator(t, args...)}

	var leader, follower *framework.Operator
	framework.WaitFor(t, 30*time.Second, "one operator to lead", func() (bool, error) {
		for i, op := range ops {
			if leaderIdentity(op) != "" {
				leader, follower = op, ops[1-i]
				return true, nil
			}
		}
		return false, nil
	})
	lease, err := f.Kube.CoordinationV1().Leases(ns).Get(context.Background(), "redis-operator-test", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, leaderIdentity(leader), *lease.Spec.HolderIdentity)
	require.Empty(t, leaderIdentity(follower), "only one replica leads")

	// A graceful stop releases the Lease, so the other replica takes over without waiting for
	// it to expire.
	leader.Stop()
	released, err := f.Kube.CoordinationV1().Leases(ns).Get(context.Background(), "redis-operator-test", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEqual(t, leaderIdentity(leader), *released.Spec.HolderIdentity, "the stopped leader released the Lease")
	framework.WaitFor(t, 20*time.Second, "the other operator to lead", func() (bool, error) {
		return leaderIdentity(follower) != "", nil
	})
	lease, err = f.Kube.CoordinationV1().Leases(ns).Get(context.Background(), "redis-operator-test", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, leaderIdentity(follower), *lease.Spec.HolderIdentity)
}
