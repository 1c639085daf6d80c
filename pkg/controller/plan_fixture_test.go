package controller

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops/topology"
)

// fakeNode describes one node of a planner fixture: what it is and whom it knows.
type fakeNode struct {
	index     int
	host      string
	id        string
	master    bool
	masterID  string
	slots     []topology.SlotRange
	down      bool     // the pod is running but Redis does not answer
	noPod     bool     // the member has no ready pod
	strangers []string // ids this node does not know
	ghosts    []topology.NodeView
	stateOK   bool
	linkUp    bool
	linkDown  int // seconds
	migrating map[int]string
	importing map[int]string
	epoch     int64 // config epoch of a master; 0 gives index+1, as in a settled cluster, -1 none
	// dataKept marks a member whose data claim exists (with persistence).
	dataKept bool
	syncing  bool // a replica in the middle of a full sync
	dataMiB  int  // keys' memory; with it, 2 MiB of overhead and a maxmemory of 100 MiB
}

func addrOf(index int) string {
	return "10.0.0." + strconv.Itoa(index%3+1) + ":" + strconv.Itoa(10000+index)
}

func (n fakeNode) line(self bool) topology.NodeView {
	flags := map[string]bool{}
	if n.master {
		flags["master"] = true
	} else {
		flags["slave"] = true
	}
	if self {
		flags["myself"] = true
	}
	v := topology.NodeView{ID: n.id, Addr: addrOf(n.index), Flags: flags, MasterID: n.masterID, Slots: n.slots, Linked: true}
	if n.master {
		switch v.Epoch = n.epoch; v.Epoch {
		case 0:
			v.Epoch = int64(n.index) + 1
		case -1:
			v.Epoch = 0
		}
	}
	if self {
		v.Migrating, v.Importing = n.migrating, n.importing
	}
	return v
}

// clusterFixture builds the liveCluster cluster of nodes for a cluster of masters x replicas.
func clusterFixture(masters, replicas int, nodes ...fakeNode) *liveCluster {
	o := &liveCluster{Masters: masters, Replicas: replicas, View: &topology.ClusterView{Nodes: map[string]*topology.NodeState{}},
		LinkDownLimit: 12, NodeTimeout: 5 * time.Second, Now: time.Unix(1000, 0)}
	for _, n := range nodes {
		m := Member{Index: n.index, Pod: fmt.Sprintf("rc-%d", n.index), Node: n.host, Host: n.host, Port: 10000 + n.index, ClaimKept: n.dataKept}
		if !n.noPod {
			m.IP = "10.0.0." + strconv.Itoa(n.index%3+1)
			m.PodIP = m.IP
		}
		o.Members = append(o.Members, m)
		if n.noPod {
			continue
		}
		state := &topology.NodeState{Addr: m.Addr(), Info: map[string]string{"cluster_state": "fail"}, Replication: map[string]string{}}
		if n.down {
			state.Err = fmt.Errorf("connection refused")
		}
		if n.stateOK {
			state.Info["cluster_state"] = "ok"
		}
		if n.linkUp {
			state.Replication["master_link_status"] = "up"
		} else if !n.master {
			state.Replication["master_link_status"] = "down"
			state.Replication["master_link_down_since_seconds"] = strconv.Itoa(n.linkDown)
		}
		if n.syncing {
			state.Replication["master_sync_in_progress"] = "1"
		}
		if n.dataMiB > 0 {
			state.Memory = map[string]string{"used_memory_dataset": strconv.Itoa(n.dataMiB << 20),
				"used_memory": strconv.Itoa((n.dataMiB + 2) << 20), "maxmemory": strconv.Itoa(100 << 20)}
		}
		state.Table = append(state.Table, n.line(true))
		for _, other := range nodes {
			if other.id == n.id || other.noPod || other.down || contains(n.strangers, other.id) {
				continue
			}
			state.Table = append(state.Table, other.line(false))
		}
		state.Table = append(state.Table, n.ghosts...)
		o.View.Nodes[m.Addr()] = state
	}
	return o
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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

// healthy is a formed 3x1 cluster: masters 0-2 on hosts a-c, replicas 3-5 on other hosts.
func healthy() []fakeNode {
	split := topology.EvenSplit(3)
	return []fakeNode{
		{index: 0, host: "a", id: "m0", master: true, slots: split[0:1], stateOK: true},
		{index: 1, host: "b", id: "m1", master: true, slots: split[1:2], stateOK: true},
		{index: 2, host: "c", id: "m2", master: true, slots: split[2:3], stateOK: true},
		{index: 3, host: "b", id: "r3", masterID: "m0", stateOK: true, linkUp: true},
		{index: 4, host: "c", id: "r4", masterID: "m1", stateOK: true, linkUp: true},
		{index: 5, host: "a", id: "r5", masterID: "m2", stateOK: true, linkUp: true},
	}
}

func emptyNodes(n int, know bool) []fakeNode {
	hosts := []string{"a", "b", "c"}
	var out []fakeNode
	for i := 0; i < n; i++ {
		node := fakeNode{index: i, host: hosts[i%3], id: "n" + strconv.Itoa(i), master: true, epoch: -1}
		if !know {
			for j := 0; j < n; j++ {
				if j != i {
					node.strangers = append(node.strangers, "n"+strconv.Itoa(j))
				}
			}
		}
		out = append(out, node)
	}
	return out
}
