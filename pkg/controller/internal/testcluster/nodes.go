package testcluster

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"redis-operator/pkg/redisops/topology"
)

// Node describes one node of a fixture: what it is and whom it knows.
type Node struct {
	Index     int
	Host      string
	ID        string
	Master    bool
	MasterID  string
	Slots     []topology.SlotRange
	Down      bool     // the pod is running but Redis does not answer
	NoPod     bool     // the member has no ready pod
	Strangers []string // ids this node does not know
	Ghosts    []topology.NodeView
	StateOK   bool
	LinkUp    bool
	LinkDown  int // seconds
	Migrating map[int]string
	Importing map[int]string
	Epoch     int64 // config epoch of a master; 0 gives index+1, as in a settled cluster, -1 none
	// dataKept marks a member whose data claim exists (with persistence).
	DataKept bool
	Syncing  bool // a replica in the middle of a full sync
	DataMiB  int  // keys' memory; with it, 2 MiB of overhead and a maxmemory of 100 MiB
}

// Addr is the address of the node at index: three hosts, a port per index.
func Addr(index int) string {
	return "10.0.0." + strconv.Itoa(index%3+1) + ":" + strconv.Itoa(10000+index)
}

// Line is n's line in a CLUSTER NODES table, its own when self.
func (n Node) Line(self bool) topology.NodeView {
	flags := map[string]bool{}
	if n.Master {
		flags["master"] = true
	} else {
		flags["slave"] = true
	}
	if self {
		flags["myself"] = true
	}
	v := topology.NodeView{ID: n.ID, Addr: Addr(n.Index), Flags: flags, MasterID: n.MasterID, Slots: n.Slots, Linked: true}
	if n.Master {
		switch v.Epoch = n.Epoch; v.Epoch {
		case 0:
			v.Epoch = int64(n.Index) + 1
		case -1:
			v.Epoch = 0
		}
	}
	if self {
		v.Migrating, v.Importing = n.Migrating, n.Importing
	}
	return v
}

// View is the cluster as nodes report it: each answering node's own table, INFO and memory.
func View(nodes ...Node) *topology.ClusterView {
	view := &topology.ClusterView{Nodes: map[string]*topology.NodeState{}}
	for _, n := range nodes {
		if n.NoPod {
			continue
		}
		state := &topology.NodeState{Addr: Addr(n.Index), Info: map[string]string{"cluster_state": "fail"}, Replication: map[string]string{}}
		if n.Down {
			state.Err = fmt.Errorf("connection refused")
		}
		if n.StateOK {
			state.Info["cluster_state"] = "ok"
		}
		if n.LinkUp {
			state.Replication["master_link_status"] = "up"
		} else if !n.Master {
			state.Replication["master_link_status"] = "down"
			state.Replication["master_link_down_since_seconds"] = strconv.Itoa(n.LinkDown)
		}
		if n.Syncing {
			state.Replication["master_sync_in_progress"] = "1"
		}
		if n.DataMiB > 0 {
			state.Memory = map[string]string{"used_memory_dataset": strconv.Itoa(n.DataMiB << 20),
				"used_memory": strconv.Itoa((n.DataMiB + 2) << 20), "maxmemory": strconv.Itoa(100 << 20)}
		}
		state.Table = append(state.Table, n.Line(true))
		for _, other := range nodes {
			if other.ID == n.ID || other.NoPod || other.Down || slices.Contains(n.Strangers, other.ID) {
				continue
			}
			state.Table = append(state.Table, other.Line(false))
		}
		state.Table = append(state.Table, n.Ghosts...)
		view.Nodes[state.Addr] = state
	}
	return view
}

// healthy is a formed 3x1 cluster: masters 0-2 on hosts a-c, replicas 3-5 on other hosts.
// Healthy is a settled 3x1 cluster: masters m0-m2 on hosts a-c, each replica on another host.
func Healthy() []Node {
	split := topology.EvenSplit(3)
	return []Node{
		{Index: 0, Host: "a", ID: "m0", Master: true, Slots: split[0:1], StateOK: true},
		{Index: 1, Host: "b", ID: "m1", Master: true, Slots: split[1:2], StateOK: true},
		{Index: 2, Host: "c", ID: "m2", Master: true, Slots: split[2:3], StateOK: true},
		{Index: 3, Host: "b", ID: "r3", MasterID: "m0", StateOK: true, LinkUp: true},
		{Index: 4, Host: "c", ID: "r4", MasterID: "m1", StateOK: true, LinkUp: true},
		{Index: 5, Host: "a", ID: "r5", MasterID: "m2", StateOK: true, LinkUp: true},
	}
}

// EmptyNodes are n masters that own nothing, knowing each other only when know.
func EmptyNodes(n int, know bool) []Node {
	hosts := []string{"a", "b", "c"}
	var out []Node
	for i := 0; i < n; i++ {
		node := Node{Index: i, Host: hosts[i%3], ID: "n" + strconv.Itoa(i), Master: true, Epoch: -1}
		if !know {
			for j := 0; j < n; j++ {
				if j != i {
					node.Strangers = append(node.Strangers, "n"+strconv.Itoa(j))
				}
			}
		}
		out = append(out, node)
	}
	return out
}

// Shards maps each master that serves slots to its shard, its rank by first slot, as the
// operator labels pods: the answering masters, and a master that does not answer while
// another's table still gives it slots no answering master holds.
func Shards(nodes ...Node) map[string]int {
	first := map[string]int{}
	claimed := map[int]bool{}
	for _, n := range nodes {
		if n.Master && len(n.Slots) > 0 && !n.NoPod && !n.Down {
			first[n.ID] = n.Slots[0].Start
			claimed[n.Slots[0].Start] = true
		}
	}
	for _, n := range nodes {
		for _, g := range n.Ghosts {
			if _, ok := first[g.ID]; !ok && g.Master() && len(g.Slots) > 0 && !n.NoPod && !n.Down && !claimed[g.Slots[0].Start] {
				first[g.ID] = g.Slots[0].Start
			}
		}
	}
	ids := make([]string, 0, len(first))
	for id := range first {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return first[ids[i]] < first[ids[j]] })
	out := map[string]int{}
	for i, id := range ids {
		out[id] = i
	}
	return out
}
