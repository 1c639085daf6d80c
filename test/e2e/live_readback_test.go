package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/test/e2e/framework"
)

// everyNodeRuns waits until every node at addrs reads back directive as want.
func everyNodeRuns(t *testing.T, addrs []string, directive, want string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	framework.WaitFor(t, timeout, "every node to run "+directive+" "+want, func() (bool, error) {
		for _, addr := range addrs {
			if got, err := configOf(ctx, addr, "", directive); err != nil || got != want {
				return false, fmt.Errorf("node %s runs %s %q (%v)", addr, directive, got, err)
			}
		}
		return true, nil
	})
}

// setOnNode changes a directive on one node behind the operator's back, as a container that
// restarted with an older config file would run it.
func setOnNode(t *testing.T, addr, directive, value string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	require.NoError(t, c.ConfigSet(context.Background(), directive, value).Err())
}

// A directive removed from spec.config returns, on every running node, to the
// value a fresh start has, so that nodes restarted later run the same as the others.
func TestRemovedSettingReturnsToTheDefaultOnRunningNodes(t *testing.T) {
	rc := f.ReadyCluster(t, "unset")
	ns := rc.Namespace
	addrs := framework.NodeAddrs(rc)
	patchCluster(t, ns, "unset", `{"spec":{"config":{"maxmemory-policy":"allkeys-lru","hz":"20"}}}`)
	everyNodeRuns(t, addrs, "maxmemory-policy", "allkeys-lru", 30*time.Second)
	everyNodeRuns(t, addrs, "hz", "20", 30*time.Second)
	f.CheckInvariants(t, f.WaitReady(t, ns, "unset", time.Minute))

	patchCluster(t, ns, "unset", `{"spec":{"config":{"maxmemory-policy":null}}}`)
	everyNodeRuns(t, addrs, "maxmemory-policy", "noeviction", time.Minute)
	everyNodeRuns(t, addrs, "hz", "20", 10*time.Second) // the key still set is kept
	patchCluster(t, ns, "unset", `{"spec":{"config":null}}`)
	everyNodeRuns(t, addrs, "hz", "10", time.Minute)
	f.CheckInvariants(t, f.WaitReady(t, ns, "unset", time.Minute))
}

// A node that runs other settings than the config Secret's while its pod's
// annotation says it took them (a restart that read an older file) is brought back.
func TestNodeRunningOtherSettingsThanItsAnnotationConverges(t *testing.T) {
	rc := f.ReadyCluster(t, "drift")
	ns := rc.Namespace
	addrs := framework.NodeAddrs(rc)
	patchCluster(t, ns, "drift", `{"spec":{"config":{"hz":"20"}}}`)
	everyNodeRuns(t, addrs, "hz", "20", 30*time.Second)
	rc = f.WaitReady(t, ns, "drift", time.Minute)
	f.CheckInvariants(t, rc)

	setOnNode(t, addrs[1], "hz", "15")                         // a key the spec sets
	setOnNode(t, addrs[2], "maxmemory-policy", "volatile-lru") // a key left at its default
	everyNodeRuns(t, addrs, "hz", "20", time.Minute)
	everyNodeRuns(t, addrs, "maxmemory-policy", "noeviction", time.Minute)
	f.CheckInvariants(t, f.WaitReady(t, ns, "drift", time.Minute))
}
