package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

func TestAwaitingFailover(t *testing.T) {
	rc := testcluster.Cluster("rc")
	nodes := testcluster.Healthy()
	nodes[0].NoPod = true
	o := clusterFixture(3, 1, nodes...)
	rc.Status.Nodes = []redisv1beta1.NodeStatus{{Pod: "rc-0", Role: redisv1beta1.RoleMaster, NodeID: "m0", Slots: []string{"0-5461"}}}
	present := map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}

	hold, force := awaitingFailover(rc, o, present)
	require.Contains(t, hold, 0, "the lost master's pod waits for its replica")
	require.Empty(t, force)

	last, table := rc.Status.Nodes, o.View.Nodes[testcluster.Addr(3)].Table
	rc.Status.Nodes = []redisv1beta1.NodeStatus{{Pod: "rc-0", Role: redisv1beta1.RoleReplica, NodeID: "m0"}}
	hold, _ = awaitingFailover(rc, o, present)
	require.Empty(t, hold, "neither the status nor a table says rc-0 was a master")
	o.View.Nodes[testcluster.Addr(3)].Table = append(table, topology.NodeView{ID: "m0", Addr: testcluster.Addr(0),
		Flags: map[string]bool{"master": true}, Slots: topology.EvenSplit(3)[0:1]})
	hold, _ = awaitingFailover(rc, o, present)
	require.Contains(t, hold, 0, "the status missed a hand-over: the replica's own table names rc-0 its master")
	rc.Status.Nodes, o.View.Nodes[testcluster.Addr(3)].Table = last, table

	// Heard of a moment ago, not flagged, but both of the replica's links to it are down while
	// its pod is gone: the process ended, and the replica is forced at once.
	replica := o.View.Nodes[testcluster.Addr(3)]
	stoppedMaster := topology.NodeView{ID: "m0", Addr: testcluster.Addr(0), Flags: map[string]bool{"master": true},
		PongRecv: o.Now.Add(-time.Second).UnixMilli(), Slots: topology.EvenSplit(3)[0:1]}
	replica.Table = append(table, stoppedMaster)
	replica.Replication["master_link_status"] = "down"
	_, force = awaitingFailover(rc, o, present)
	require.Equal(t, []string{"failover"}, kinds(flatten(force)))
	require.Equal(t, topology.FailoverForce, force[0].(Failover).Mode)
	replica.Replication["master_link_status"] = "up"
	_, force = awaitingFailover(rc, o, present)
	require.Empty(t, force, "a replication link still up: the master may be alive behind a broken network")
	replica.Replication["master_link_status"] = "down"
	// Long silent: FORCE, had it been sent, did not win; the timers decide as for any lost master.
	longGone := stoppedMaster
	longGone.PongRecv, longGone.Flags = o.Now.Add(-time.Minute).UnixMilli(), map[string]bool{"master": true, "fail": true}
	replica.Table = append(table, longGone)
	_, force = awaitingFailover(rc, o, present)
	require.Len(t, force, 1)
	require.Contains(t, force[0].Why(), "unheard of for over")
	stoppedMaster.Linked = true
	replica.Table = append(table, stoppedMaster)
	_, force = awaitingFailover(rc, o, present)
	require.Empty(t, force, "the cluster bus still reaches it: not stopped")
	replica.Table = table

	// Unheard of for long and flagged fail: force the replica.
	lost := topology.NodeView{ID: "m0", Addr: testcluster.Addr(0), Flags: map[string]bool{"master": true, "fail": true}, PongRecv: o.Now.Add(-time.Minute).UnixMilli()}
	o.View.Nodes[testcluster.Addr(3)].Table = append(o.View.Nodes[testcluster.Addr(3)].Table, lost)
	_, force = awaitingFailover(rc, o, present)
	require.Equal(t, []string{"failover"}, kinds(flatten(force)))
	require.Equal(t, testcluster.Addr(3), flatten(force).Actions[0].Addr)

	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
	hold, _ = awaitingFailover(rc, o, present)
	require.Empty(t, hold, "a persistent node comes back with its id: no wait")

	rc.Spec.Persistence = nil
	nodes[3].MasterID, nodes[3].Master, nodes[3].Slots = "", true, topology.EvenSplit(3)[0:1]
	hold, _ = awaitingFailover(rc, clusterFixture(3, 1, nodes...), present)
	require.Empty(t, hold, "once the replica took over the pod is re-created")
}
