package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/e2e/framework"
)

// openMigration waits until some master of rc has a slot open for a migration and returns that
// node's view of itself: the source when migrating, else the target.
func openMigration(t *testing.T, rc *redisv1beta1.RedisCluster, source bool) topology.NodeView {
	t.Helper()
	admin := redisops.NewAdmin("")
	defer admin.Close()
	var found topology.NodeView
	framework.WaitFor(t, 2*time.Minute, "a slot to be migrating", func() (bool, error) {
		cur := f.Cluster(t, rc.Namespace, rc.Name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		view := admin.View(ctx, framework.NodeAddrs(cur))
		for _, st := range view.Reachable() {
			self, _ := st.Self()
			if (source && len(self.Migrating) > 0) || (!source && len(self.Importing) > 0) {
				found = self
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// podAt is the pod of the node listening at addr.
func podAt(t *testing.T, rc *redisv1beta1.RedisCluster, addr string) string {
	t.Helper()
	for _, n := range rc.Status.Nodes {
		if n.IP+":"+strconv.Itoa(int(n.Port)) == addr {
			return n.Pod
		}
	}
	t.Fatalf("no node at %s in %+v", addr, rc.Status.Nodes)
	return ""
}

// slotsUntilGone collects the slots node lost owns or imports, as it and every other node see
// them, until it stops answering. The migration goes on until the pod dies, so one look before
// the delete would miss slots it took after.
func slotsUntilGone(t *testing.T, rc *redisv1beta1.RedisCluster, lost topology.NodeView) map[int]bool {
	t.Helper()
	admin := redisops.NewAdmin("")
	defer admin.Close()
	held := map[int]bool{}
	add := func(ranges []topology.SlotRange) {
		for _, r := range ranges {
			for s := r.Start; s <= r.End; s++ {
				held[s] = true
			}
		}
	}
	add(lost.Slots)
	gone := false
	framework.WaitFor(t, time.Minute, "the deleted node to stop answering", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		view := admin.View(ctx, framework.NodeAddrs(rc))
		for _, st := range view.Reachable() {
			if peer, ok := st.Peer(lost.ID); ok {
				add(peer.Slots)
			}
			self, _ := st.Self()
			for s, to := range self.Migrating {
				if to == lost.ID {
					held[s] = true
				}
			}
			if self.ID == lost.ID {
				for s := range self.Importing {
					held[s] = true
				}
			}
		}
		// One more look after it went away: the others' tables keep its last slots.
		done := gone
		gone = view.ByID()[lost.ID] == nil
		return done && gone, nil
	})
	return held
}

// scaleOutLosingANode scales a loaded 3x1 cluster to 4 masters and deletes the pod of the
// migration's source or target while a slot is open. It returns the cluster once Ready again
// and the slots the lost node held or was importing.
func scaleOutLosingANode(t *testing.T, name string, source bool, keys int) (*redisv1beta1.RedisCluster, map[int]bool) {
	rc := f.ReadyCluster(t, name)
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), name, keys)

	patchMasters(t, ns, name, "4")
	lost := openMigration(t, f.Cluster(t, ns, name), source)
	deletePod(t, ns, podAt(t, f.Cluster(t, ns, name), lost.Addr))
	held := slotsUntilGone(t, f.Cluster(t, ns, name), lost)
	t.Logf("deleted the pod of %s (%s); it held or imported %d slots", lost.Addr,
		map[bool]string{true: "source", false: "target"}[source], len(held))

	rc = f.WaitReady(t, ns, name, 4*time.Minute)
	require.EqualValues(t, 4, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	require.NotNil(t, rc.Status.LastMigration, "the finished migration is on record")
	require.NotEmpty(t, rc.Status.LastMigration.Interruptions, "the status says what happened")
	t.Logf("status: %s", strings.Join(rc.Status.LastMigration.Interruptions, " | "))
	return rc, held
}

// reportedLost are the slots a migration's record says lost keys: status.lastMigration.lostSlots.
func reportedLost(t *testing.T, m *redisv1beta1.MigrationStatus) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	for _, text := range m.LostSlots {
		r, err := topology.ParseSlotRange(text)
		require.NoError(t, err, "lostSlots %v", m.LostSlots)
		for s := r.Start; s <= r.End; s++ {
			out[s] = true
		}
	}
	return out
}

func TestMigrationSourcePodLost(t *testing.T) {
	const keys = 100000
	rc, _ := scaleOutLosingANode(t, "lose-source", true, keys)
	// The source had a replica: it takes over, and the keys the target had already received
	// go back to it or forward to the target. Nothing is lost, and the status says so.
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "lose-source", keys)
	require.Empty(t, rc.Status.LastMigration.LostSlots, "the status reports slots lost")
}

// The new master's replica is linked before the first batch and a slot is
// handed over only once that replica has the target's writes, so the target's loss mid-move
// loses no key: its replica takes over what it was handed, and what it was importing goes back.
func TestMigrationTargetPodLost(t *testing.T) {
	const keys = 100000
	rc, held := scaleOutLosingANode(t, "lose-target", false, keys)
	t.Logf("the lost target held or imported %d slots; status: lostSlots %v", len(held), rc.Status.LastMigration.LostSlots)
	missing := framework.MissingKeys(t, framework.ClusterClient(t, rc), "lose-target", keys)
	require.Empty(t, missing, "keys lost with the target")
	// A slot that was open but had sent no key yet when the target went may still be reported
	// lost (nothing tells it from one whose keys were lost); no other is.
	for s := range reportedLost(t, rc.Status.LastMigration) {
		require.True(t, held[s], "slot %d is reported lost but was never on the lost node", s)
	}
}
