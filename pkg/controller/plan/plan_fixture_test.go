package plan

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// clusterFixture builds the liveCluster of nodes for a cluster of masters x replicas.
func clusterFixture(masters, replicas int, nodes ...testcluster.Node) *liveCluster {
	o := &liveCluster{Masters: masters, Replicas: replicas, View: testcluster.View(nodes...),
		LinkDownLimit: 12, NodeTimeout: 5 * time.Second, Now: time.Unix(1000, 0), TemporaryIndex: masters * (1 + replicas)}
	for _, n := range nodes {
		m := Member{Index: n.Index, Pod: fmt.Sprintf("rc-%d", n.Index), Node: n.Host, Domain: n.Host, Port: 10000 + n.Index, ClaimKept: n.DataKept}
		if !n.NoPod {
			m.IP = "10.0.0." + strconv.Itoa(n.Index%3+1)
			m.PodIP = m.IP
		}
		o.Members = append(o.Members, m)
	}
	return o
}

// plan is a planner's output flattened for tests: one struct with every action kind's fields.
type plan struct {
	Actions []flatAction
}

type flatAction struct {
	Kind   string
	Addr   string
	Target Member
	Ranges []topology.SlotRange
	NodeID string
	Slot   int
	Slots  []int
	Owner  string
	Moves  []topology.SlotMove
	Epoch  int64
	Reason string
}

// Kinds of flatAction.
const (
	actWait         = "wait"
	actMeet         = "meet"
	actAddSlots     = "addSlots"
	actAssignedLost = "assignLost"
	actReplicate    = "replicate"
	actForget       = "forget"
	actFailover     = "failover"
	actPointOwner   = "pointOwner"
	actRepairSlot   = "repairSlot"
	actMigrate      = "migrate"
	actRemove       = "remove"
	actReplace      = "replace"
	actTemporary    = "addTemporary"
)

func flatten(actions []Action) plan {
	var p plan
	for _, a := range actions {
		f := flatAction{Reason: a.Why()}
		switch a := a.(type) {
		case WaitFor, WaitForData, NotEnoughMemory:
			f.Kind = actWait
		case MeetNode:
			f.Kind, f.Addr, f.Target = actMeet, a.Addr, a.Peer
		case AddSlots:
			f.Kind, f.Addr, f.Ranges, f.Epoch = actAddSlots, a.Addr, a.Ranges, a.Epoch
		case ClaimLostSlots:
			f.Kind, f.Addr, f.Ranges = actAssignedLost, a.Addr, a.Ranges
		case Replicate:
			f.Kind, f.Addr, f.NodeID = actReplicate, a.Addr, a.MasterID
		case ForgetNode:
			f.Kind, f.NodeID = actForget, a.ID
		case Failover:
			f.Kind, f.Addr, f.NodeID = actFailover, a.Addr, a.MasterID
		case PointOwner:
			f.Kind, f.Addr, f.NodeID, f.Slots = actPointOwner, a.Addr, a.OwnerID, a.Slots
		case RepairSlot:
			f.Kind, f.Slot, f.Owner = actRepairSlot, a.Slot, a.Owner
		case MigrateSlots:
			f.Kind, f.Moves = actMigrate, a.Moves
		case RemoveNode:
			f.Kind, f.Addr, f.NodeID, f.Target = actRemove, a.Node.Addr(), a.ID, a.Node
		case ReplacePod:
			f.Kind, f.Addr, f.Target = actReplace, a.Node.Addr(), a.Node
		case AddTemporaryNode:
			f.Kind, f.Slot = actTemporary, a.Index
		default:
			panic(fmt.Sprintf("no flattening for %T", a))
		}
		p.Actions = append(p.Actions, f)
	}
	return p
}

// planOf is the plan planCluster makes of o when no migration runs.
func planOf(o *liveCluster) plan { return flatten(planCluster(o, false)) }

// requireWaiting checks that the plan only waits, for a reason containing why.
func requireWaiting(t *testing.T, p plan, Why string) {
	t.Helper()
	require.Equal(t, []string{"wait"}, kinds(p), "%+v", p.Actions)
	require.Contains(t, p.Actions[0].Reason, Why)
}

func kinds(p plan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.Kind)
	}
	return out
}
