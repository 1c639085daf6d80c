package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// A master's pod deleted under 8 writers: Redis stops, its replica is forced to take over as
// soon as both its links to the stopped master are down (not a node timeout later), the pod
// comes back as a replica, and every acknowledged write reads back.
func TestAMasterPodDeletedUnderWritersIsReplacedWithoutLosingAWrite(t *testing.T) {
	rc := f.ReadyCluster(t, "heal")
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "kept", 20000)
	w := framework.StartWriters(client, 8, 1000000)

	lost := podOfRole(t, rc, redisv1beta1.RoleMaster)
	started := time.Now()
	deletePod(t, ns, lost.Pod)
	waitNotReady(t, ns, "heal")
	rc = f.WaitWhole(t, ns, "heal", 2*time.Minute)
	healed := time.Since(started)
	w.Halt()

	require.Positive(t, eventsSaying(t, ns, "heal", "whose pod is gone and whose links are down"),
		"the replica was forced at once, not elected by Redis a node timeout later")
	client = framework.ClusterClient(t, rc)
	framework.CheckKeys(t, client, "kept", 20000)
	w.CheckAcked(t, client)
	f.CheckInvariants(t, rc)
	t.Logf("master pod %s deleted -> whole again in %.1fs (node timeout %d ms); %d writes acknowledged, %d refused, longest gap %v",
		lost.Pod, healed.Seconds(), rc.Spec.NodeTimeoutMillis(), w.Acked(), w.Fails(), w.LongestGap().Round(time.Millisecond))
}
