package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// replicaOf is a joined replica of master with its link up, at index on host "b".
func replicaOf(index int, master string) testcluster.Node {
	return testcluster.Node{Index: index, Host: "b", ID: "r" + master + "-" + string(rune('0'+index%10)), MasterID: master, StateOK: true, LinkUp: true}
}

// With replicas, a new master has a replica linked before any slot moves to it, so that no key
// it receives exists once.
func TestNewMasterGetsItsReplicaBeforeSlots(t *testing.T) {
	newMaster := testcluster.Node{Index: 6, Host: "a", ID: "m6", Master: true, StateOK: true}
	t.Run("a joined spare node becomes its replica first", func(t *testing.T) {
		spare := testcluster.Node{Index: 7, Host: "b", ID: "m7", Master: true, StateOK: true}
		p := planOf(clusterFixture(4, 1, append(testcluster.Healthy(), newMaster, spare)...))
		require.Equal(t, []string{"replicate"}, kinds(p), "%+v", p.Actions)
		require.Equal(t, testcluster.Addr(7), p.Actions[0].Addr)
		require.Equal(t, "m6", p.Actions[0].NodeID)
	})
	t.Run("slots wait for the replica's link", func(t *testing.T) {
		r := replicaOf(7, "m6")
		r.LinkUp = false
		requireWaiting(t, planOf(clusterFixture(4, 1, append(testcluster.Healthy(), newMaster, r)...)),
			"waiting for node 7, replica of new master node 6, to sync")
	})
	t.Run("a second replica of another master moves to it", func(t *testing.T) {
		// The target of a move was lost, its replica took over and gave the keys back, and the
		// target's pod came back as a second replica of an old master: no joined node is spare.
		p := planOf(clusterFixture(4, 1, append(testcluster.Healthy(), newMaster, replicaOf(7, "m0"))...))
		require.Equal(t, []string{"replicate"}, kinds(p), "%+v", p.Actions)
		require.Equal(t, testcluster.Addr(7), p.Actions[0].Addr)
		require.Equal(t, "m6", p.Actions[0].NodeID)
	})
	t.Run("slots wait for a node to replicate it", func(t *testing.T) {
		requireWaiting(t, planOf(clusterFixture(4, 1, append(testcluster.Healthy(), newMaster)...)),
			"waiting for a node to replicate new master node 6")
	})
	t.Run("without replicas slots move at once", func(t *testing.T) {
		nodes := []testcluster.Node{}
		for _, n := range testcluster.Healthy() {
			if n.Master {
				nodes = append(nodes, n)
			}
		}
		p := planOf(clusterFixture(4, 0, append(nodes, newMaster)...))
		require.Equal(t, []string{"migrate"}, kinds(p), "%+v", p.Actions)
	})
	t.Run("its replica is kept while the migration runs", func(t *testing.T) {
		o := clusterFixture(4, 1, append(testcluster.Healthy(), newMaster, replicaOf(7, "m6"))...)
		o.Migrating = map[string]bool{"m6": true, "m0": true}
		require.Empty(t, planCluster(o, true), "nothing re-points the new master's replica")
	})
}

// While a task runs (here a repair after the target of a scale-out's move was lost), empty
// masters are attached as replicas, but not the ones the scale-out still needs as masters: with
// every joined node a replica, it would wait for a new master forever.
func TestEmptyNodesAScaleOutNeedsStayMastersWhileATaskRuns(t *testing.T) {
	six := testcluster.Node{Index: 6, Host: "a", ID: "m6", Master: true, StateOK: true}
	seven := testcluster.Node{Index: 7, Host: "b", ID: "m7", Master: true, StateOK: true}
	p := flatten(planCluster(clusterFixture(4, 1, append(testcluster.Healthy(), six, seven)...), true))
	require.Equal(t, []string{"replicate"}, kinds(p), "one empty node stays a master: %+v", p.Actions)

	p = flatten(planCluster(clusterFixture(3, 1, append(testcluster.Healthy(), six, seven)...), true))
	require.Equal(t, []string{"replicate", "replicate"}, kinds(p), "without a scale-out both become replicas: %+v", p.Actions)
}

// The target of a move is lost while a repair runs: its replica holds the only copy of the keys
// the target received, and the repair is to take them back from it. A sync meanwhile must not
// make it replicate another master, which would drop them.
func TestALostTargetsReplicaStaysWhileTheRepairRuns(t *testing.T) {
	nodes := testcluster.Healthy()
	nodes[0].Migrating = map[int]string{100: "m6"}
	target := testcluster.Node{Index: 6, Host: "a", ID: "m6", Master: true, NoPod: true}
	replica := testcluster.Node{Index: 7, Host: "b", ID: "r7", MasterID: "m6", StateOK: true}
	for i := range nodes {
		nodes[i].Ghosts = []topology.NodeView{target.Line(false)}
	}
	for _, masters := range []int{3, 4} {
		o := clusterFixture(masters, 1, append(nodes, target, replica)...)
		for _, a := range flatten(planCluster(o, true)).Actions {
			require.NotEqual(t, testcluster.Addr(7), a.Addr, "the lost target's replica is left to the repair: %+v", a)
		}
	}
	// Once it took the target's place, the slot is open toward it until its keys are back.
	nodes[0].Migrating = map[int]string{100: "r7"}
	replica.Master, replica.MasterID = true, ""
	for _, masters := range []int{3, 4} {
		o := clusterFixture(masters, 1, append(nodes, target, replica)...)
		for _, a := range flatten(planCluster(o, true)).Actions {
			require.NotEqual(t, testcluster.Addr(7), a.Addr, "the node keys come back from is left to the repair: %+v", a)
		}
	}
}
