package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// TestLostMasterIsHeldWhenTheStatusMissedItsHandOver: a replica takes its master's role while
// the operator is down, so the status still names it a replica. Its pod is deleted and can only
// come back on its host, at its old address. The next operator must learn from the nodes that
// the old master now replicates the lost pod, and hold the pod until the old master has taken
// over: a new empty node at that address would be its master's address, and it would resync
// from it and drop every key of the shard.
func TestLostMasterIsHeldWhenTheStatusMissedItsHandOver(t *testing.T) {
	const keys = 20000
	op := f.StartOperator(t)
	rc := f.ReadyCluster(t, "handed", framework.RunBy(op))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "handed", keys)

	op.Kill()
	promoted := podOfRole(t, rc, redisv1beta1.RoleReplica)
	var old redisv1beta1.NodeStatus
	for _, n := range rc.Status.Nodes {
		if n.NodeID == promoted.MasterNodeID {
			old = n
		}
	}
	require.NotEmpty(t, old.Pod, "the master of %s", promoted.Pod)
	promotedAddr := net.JoinHostPort(promoted.IP, strconv.Itoa(int(promoted.Port)))
	framework.PromoteReplica(t, promotedAddr)
	waitReplicates(t, net.JoinHostPort(old.IP, strconv.Itoa(int(old.Port))), promoted.Port)
	t.Logf("%s took over from %s while no operator ran", promoted.Pod, old.Pod)

	pod := getPod(t, ns, promoted.Pod)
	hosts, err := f.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, h := range hosts.Items {
		if h.Name != pod.Spec.NodeName {
			cordon(t, h.Name)
		}
	}
	deletePod(t, ns, promoted.Pod)
	// The status still says Ready, as the killed operator left it: wait for the new one's word.
	next := f.StartOperator(t)
	next.WaitReconciles(t, ns, 2, time.Minute)

	rc = f.WaitReady(t, ns, "handed", 3*time.Minute)
	missing := framework.MissingKeys(t, framework.ClusterClient(t, rc), "handed", keys)
	require.Empty(t, missing, "%d of %d keys are missing or wrong", len(missing), keys)
	f.CheckInvariants(t, rc)
}

// waitReplicates waits until the node at addr is a replica with its link up to the master on
// port masterPort.
func waitReplicates(t *testing.T, addr string, masterPort int32) {
	t.Helper()
	node := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer node.Close()
	framework.WaitFor(t, time.Minute, addr+" to replicate port "+strconv.Itoa(int(masterPort)), func() (bool, error) {
		role, err := node.Do(context.Background(), "ROLE").Slice()
		if err != nil {
			return false, err
		}
		if len(role) < 4 || role[0] != "slave" {
			return false, fmt.Errorf("ROLE %v", role)
		}
		return fmt.Sprint(role[2]) == strconv.Itoa(int(masterPort)) && role[3] == "connected", fmt.Errorf("ROLE %v", role)
	})
}
