package topology

import (
	"sort"
	"strconv"
	"strings"
)

// NodeState is what one node reports: its table of the cluster, its CLUSTER INFO and its
// replication INFO. Err is set when the node could not be read.
type NodeState struct {
	Addr        string
	Err         error
	Table       []NodeView
	Info        map[string]string
	Replication map[string]string
	Memory      map[string]string
	Keyspace    map[string]string
	// Config holds the live directives the operator reads back (ReadConfig), nil when not read.
	Config map[string]string
	// ACL is the node's ACL LIST without the default user, read with Config.
	ACL []string
	// OlderPassword says the node refuses the newest password its reader holds and took an
	// older one: it runs a config file from before a password change (a restart read it).
	OlderPassword bool
}

// Self is the node's own line of its table.
func (s *NodeState) Self() (NodeView, bool) {
	for _, n := range s.Table {
		if n.Myself() {
			return n, true
		}
	}
	return NodeView{}, false
}

// Keys is how many keys the node holds (a cluster node has only db0), -1 when it did not say.
func (s *NodeState) Keys() int64 {
	if s.Keyspace == nil {
		return -1
	}
	for _, field := range strings.Split(s.Keyspace["db0"], ",") {
		if v, ok := strings.CutPrefix(field, "keys="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return 0 // no db0 line: no key
}

// ClusterState is the node's cluster_state: ok or fail.
func (s *NodeState) ClusterState() string { return s.Info["cluster_state"] }

// StateOK reports whether the node says cluster_state:ok.
func (s *NodeState) StateOK() bool { return s.Err == nil && s.ClusterState() == "ok" }

// LinkUp reports whether a replica's link to its master is up.
func (s *NodeState) LinkUp() bool { return s.Replication["master_link_status"] == "up" }

// DatasetBytes is the memory the node's keys take (used_memory_dataset).
func (s *NodeState) DatasetBytes() int64 {
	n, _ := strconv.ParseInt(s.Memory["used_memory_dataset"], 10, 64)
	return n
}

// UsedBytes is the node's used_memory, what maxmemory is compared with.
func (s *NodeState) UsedBytes() int64 {
	n, _ := strconv.ParseInt(s.Memory["used_memory"], 10, 64)
	return n
}

// MaxMemoryBytes is the node's maxmemory; 0 means no limit.
func (s *NodeState) MaxMemoryBytes() int64 {
	n, _ := strconv.ParseInt(s.Memory["maxmemory"], 10, 64)
	return n
}

// Syncing reports whether a replica is in the middle of a full sync from its master.
func (s *NodeState) Syncing() bool { return s.Replication["master_sync_in_progress"] == "1" }

// LinkDownSeconds is how long a replica's link to its master has been down, 0 while it is up.
func (s *NodeState) LinkDownSeconds() int {
	n, _ := strconv.Atoi(s.Replication["master_link_down_since_seconds"])
	return n
}

// ReplOffset is how far a replica has read its master's replication stream.
func (s *NodeState) ReplOffset() int64 {
	n, _ := strconv.ParseInt(s.Replication["slave_repl_offset"], 10, 64)
	return n
}

// StreamOffset is how far the node's own replication stream goes: on a master, what its
// replicas must reach to have every write.
func (s *NodeState) StreamOffset() int64 {
	n, _ := strconv.ParseInt(s.Replication["master_repl_offset"], 10, 64)
	return n
}

// Owner is the id of the master the node believes serves slot, empty if none.
func (s *NodeState) Owner(slot int) string {
	for _, peer := range s.Table {
		if !peer.Master() {
			continue
		}
		for _, r := range peer.Slots {
			if slot >= r.Start && slot <= r.End {
				return peer.ID
			}
		}
	}
	return ""
}

// Disagreements lists the slots whose owner in the node's table is not the one in owners (the
// owner by its own word): gossip has not reached the node yet.
func (s *NodeState) Disagreements(owners *[SlotCount]string) []int {
	var believed [SlotCount]string
	for _, peer := range s.Table {
		if !peer.Master() {
			continue
		}
		for _, r := range peer.Slots {
			for slot := r.Start; slot <= r.End; slot++ {
				believed[slot] = peer.ID
			}
		}
	}
	var out []int
	for slot, id := range owners {
		if id != "" && believed[slot] != id {
			out = append(out, slot)
		}
	}
	return out
}

// UnlistedReplicas lists the replicas of replicaOf (a replica's id to its master's) that the
// node's table does not show replicating that master: gossip has not reached the node yet.
func (s *NodeState) UnlistedReplicas(replicaOf map[string]string) []string {
	var out []string
	for id, master := range replicaOf {
		if n, ok := s.Peer(id); !ok || n.Master() || n.MasterID != master {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Peer returns the node's line about id.
func (s *NodeState) Peer(id string) (NodeView, bool) {
	for _, n := range s.Table {
		if n.ID == id {
			return n, true
		}
	}
	return NodeView{}, false
}

// ClusterView is the cluster as every node given to View reports it, never one node's word.
type ClusterView struct {
	Nodes map[string]*NodeState // by address
}

// Addrs are the addresses read, sorted.
func (v *ClusterView) Addrs() []string {
	out := make([]string, 0, len(v.Nodes))
	for addr := range v.Nodes {
		out = append(out, addr)
	}
	sort.Strings(out)
	return out
}

// Reachable are the nodes that answered, sorted by address.
func (v *ClusterView) Reachable() []*NodeState {
	var out []*NodeState
	for _, addr := range v.Addrs() {
		if s := v.Nodes[addr]; s.Err == nil {
			out = append(out, s)
		}
	}
	return out
}

// ByID maps each reachable node's own id to its state.
func (v *ClusterView) ByID() map[string]*NodeState {
	out := map[string]*NodeState{}
	for _, s := range v.Reachable() {
		if self, ok := s.Self(); ok {
			out[self.ID] = s
		}
	}
	return out
}

// MasterAddrs are the addresses of the reachable masters, sorted.
func (v *ClusterView) MasterAddrs() []string {
	var out []string
	for _, s := range v.Reachable() {
		if self, _ := s.Self(); self.Master() {
			out = append(out, s.Addr)
		}
	}
	return out
}

// ReplicaOf maps each reachable replica's id to its master's id, by the replica's own word.
func (v *ClusterView) ReplicaOf() map[string]string {
	out := map[string]string{}
	for _, s := range v.Reachable() {
		if self, ok := s.Self(); ok && !self.Master() && self.MasterID != "" {
			out[self.ID] = self.MasterID
		}
	}
	return out
}

// SlotOwners returns, for each slot, the id of the master that claims it in its own line
// (empty when none does) and the slots claimed by more than one reachable master.
func (v *ClusterView) SlotOwners() (owners [SlotCount]string, contested []int) {
	seen := map[int]bool{}
	for _, s := range v.Reachable() {
		self, ok := s.Self()
		if !ok || !self.Master() {
			continue
		}
		for _, r := range self.Slots {
			for slot := r.Start; slot <= r.End; slot++ {
				if owners[slot] != "" && owners[slot] != self.ID && !seen[slot] {
					contested = append(contested, slot)
					seen[slot] = true
				}
				owners[slot] = self.ID
			}
		}
	}
	return owners, contested
}

// OpenSlot is a slot a node has left importing or migrating.
type OpenSlot struct {
	Addr      string
	Slot      int
	Migrating bool   // else importing
	Peer      string // the node id it migrates to or imports from
}

// OpenSlots lists every importing or migrating slot any reachable node reports for itself.
func (v *ClusterView) OpenSlots() []OpenSlot {
	var out []OpenSlot
	for _, s := range v.Reachable() {
		self, _ := s.Self()
		for slot, peer := range self.Migrating {
			out = append(out, OpenSlot{Addr: s.Addr, Slot: slot, Migrating: true, Peer: peer})
		}
		for slot, peer := range self.Importing {
			out = append(out, OpenSlot{Addr: s.Addr, Slot: slot, Peer: peer})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Slot != out[j].Slot {
			return out[i].Slot < out[j].Slot
		}
		return out[i].Addr < out[j].Addr
	})
	return out
}
