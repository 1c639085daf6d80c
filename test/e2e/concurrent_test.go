package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

const (
	busyKeys  = 200000
	otherKeys = 20000
)

// slotsMoving reports whether rc's status shows a slot migration with slots still to move.
func slotsMoving(rc *redisv1beta1.RedisCluster) bool {
	m := rc.Status.Migration
	return m != nil && m.SlotsDone < m.SlotsPlanned
}

// healed reports whether rc is Ready for its latest generation and the pod lost.Pod is back with
// a new node id and ready: the operator has seen the cluster since the loss, a stale Ready of
// before the delete does not count.
func healed(rc *redisv1beta1.RedisCluster, lost redisv1beta1.NodeStatus) bool {
	if rc.Status.ObservedGeneration != rc.Generation || !meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionReady) {
		return false
	}
	for _, n := range rc.Status.Nodes {
		if n.Pod == lost.Pod {
			return n.NodeID != "" && n.NodeID != lost.NodeID && n.Ready
		}
	}
	return false
}

// With one worker, a cluster moving 200,000 keys to a new master must not keep another cluster,
// whose master pod is deleted meanwhile, from healing within the usual bound.
func TestMasterLossHealsWhileAnotherClusterMigrates(t *testing.T) {
	op := f.StartOperator(t, "--workers=1")
	busy := f.ReadyCluster(t, "busy", framework.RunBy(op), framework.Shape(3, 0))
	other := f.ReadyCluster(t, "other", framework.RunBy(op))
	busyNS, otherNS := busy.Namespace, other.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, busy), "busy", busyKeys)
	framework.WriteKeys(t, framework.ClusterClient(t, other), "other", otherKeys)

	var lost redisv1beta1.NodeStatus
	for _, n := range other.Status.Nodes {
		if n.Role == redisv1beta1.RoleMaster && len(n.Slots) > 0 {
			lost = n
			break
		}
	}
	require.NotEmpty(t, lost.Pod, "no master with slots in %+v", other.Status.Nodes)

	patchMasters(t, busyNS, "busy", "4")
	framework.WaitFor(t, 2*time.Minute, "busy's slot migration to start", func() (bool, error) {
		return slotsMoving(f.Cluster(t, busyNS, "busy")), nil
	})
	deleted := time.Now()
	deletePod(t, otherNS, lost.Pod)
	t.Logf("deleted master pod %s of other (%s:%d) while busy migrates", lost.Pod, lost.IP, lost.Port)

	// Watch both clusters from the delete on: when other heals, and when busy's slots have moved.
	healWithin := time.Duration(other.Spec.NodeTimeoutMillis())*time.Millisecond + 15*time.Second
	var healedAfter, slotsMovedAfter, noticedAfter time.Duration
	var busyAtHeal *redisv1beta1.MigrationStatus
	movingWhenNoticed := false
	err := framework.Poll(5*time.Minute, "other to heal", func() (bool, error) {
		moving := slotsMoving(f.Cluster(t, busyNS, "busy"))
		if slotsMovedAfter == 0 && !moving {
			slotsMovedAfter = time.Since(deleted)
		}
		o := f.Cluster(t, otherNS, "other")
		// The operator has acted on other once its status no longer says Ready.
		if noticedAfter == 0 && !meta.IsStatusConditionTrue(o.Status.Conditions, redisv1beta1.ConditionReady) {
			noticedAfter, movingWhenNoticed = time.Since(deleted), moving
		}
		if !healed(o, lost) || !f.InvariantsHold(o) {
			ready := meta.FindStatusCondition(o.Status.Conditions, redisv1beta1.ConditionReady)
			if ready == nil {
				return false, fmt.Errorf("no Ready condition")
			}
			return false, fmt.Errorf("Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
		}
		healedAfter = time.Since(deleted)
		busyAtHeal = f.Cluster(t, busyNS, "busy").Status.Migration
		return true, nil
	})
	require.NoError(t, err)
	stillMoving := busyAtHeal != nil && busyAtHeal.SlotsDone < busyAtHeal.SlotsPlanned
	if busyAtHeal != nil {
		t.Logf("busy when other healed: %d of %d slots moved (%s)", busyAtHeal.SlotsDone, busyAtHeal.SlotsPlanned, busyAtHeal.Step)
	} else {
		t.Logf("busy when other healed: no migration on record")
	}
	if noticedAfter > 0 {
		t.Logf("other's status said not Ready %.1fs after the delete; busy's slots still moving then: %v",
			noticedAfter.Seconds(), movingWhenNoticed)
	} else {
		t.Logf("other's status was never seen not Ready")
	}
	t.Logf("other healed %.1fs after the delete (bound %s); busy's slots still moving then: %v",
		healedAfter.Seconds(), healWithin, stillMoving)
	if !stillMoving {
		t.Logf("busy's slots had all moved %.1fs after the delete: the bound was not measured wholly under a migration",
			slotsMovedAfter.Seconds())
	}
	// The loss must reach other's status while busy's slots still move, unless they all moved
	// too soon after the delete to tell.
	if !(noticedAfter > 0 && movingWhenNoticed) && slotsMovedAfter >= 500*time.Millisecond {
		t.Errorf("other's loss reached its status only after busy's slots had all moved (%.1fs after the delete): "+
			"the migration held the only worker", slotsMovedAfter.Seconds())
	}
	if healedAfter > healWithin {
		t.Errorf("other healed %.1fs after its master pod was deleted, over the bound of %s (busy's slots still moving: %v)",
			healedAfter.Seconds(), healWithin, stillMoving)
	}

	busy = f.WaitReady(t, busyNS, "busy", 5*time.Minute)
	require.EqualValues(t, 4, busy.Status.ReadyMasters)
	require.Nil(t, busy.Status.Migration, "no migration is left recorded once done")
	if m := busy.Status.LastMigration; m != nil && m.StartTime != nil && m.CompletionTime != nil {
		t.Logf("busy's migration: %d slots in %.1fs (start to back in shape)", m.SlotsPlanned,
			m.CompletionTime.Sub(m.StartTime.Time).Seconds())
	}
	other = f.WaitReady(t, otherNS, "other", 10*time.Second)
	f.CheckInvariants(t, busy)
	f.CheckInvariants(t, other)
	framework.CheckKeys(t, framework.ClusterClient(t, busy), "busy", busyKeys)
	framework.CheckKeys(t, framework.ClusterClient(t, other), "other", otherKeys)
}
