package plan

import "fmt"

// planReplicas attaches slot-less masters and orphaned replicas to the masters lacking replicas,
// moves a replica from a master with too many to one with none, and re-points replicas whose link
// stays down.
func planReplicas(o *liveCluster, nodes []reachableMember, byID map[string]reachableMember) []Action {
	// Masters that slots are open toward: a replica of one that is lost holds the keys it
	// received, and the repair takes them back from it (or from the node that took its place).
	movingTo := map[string]bool{}
	for _, n := range nodes {
		for _, to := range n.Self.Migrating {
			movingTo[to] = true
		}
	}
	replicasOf := map[string][]reachableMember{}
	var masters, free []reachableMember
	for _, n := range nodes {
		_, masterAnswers := byID[n.Self.MasterID]
		switch {
		case n.Self.Master() && len(n.Self.Slots) > 0:
			masters = append(masters, n)
		case n.Extra:
			continue // about to be removed
		case n.Self.Master():
			// A migration's new master owns nothing until handed slots; a node slots are open
			// toward holds keys on their way.
			if !o.Migrating[n.Self.ID] && !movingTo[n.Self.ID] {
				free = append(free, n)
			}
		case o.Migrating[n.Self.MasterID] && !isSlotOwner(byID[n.Self.MasterID]),
			movingTo[n.Self.MasterID] && !masterAnswers:
			// Linked to a migration's new master before its first slot (see replicasFirst), or
			// holding what a lost one received: it stays.
			continue
		default:
			if masterAnswers && isSlotOwner(byID[n.Self.MasterID]) {
				replicasOf[n.Self.MasterID] = append(replicasOf[n.Self.MasterID], n)
			} else if !ownsSlots(n, n.Self.MasterID) {
				free = append(free, n) // its master is gone for good or owns nothing
			}
			// else its master owns slots and does not answer: the replica is to take over.
		}
	}
	if len(masters) == 0 {
		return nil
	}
	var out []Action
	var joined, joining []reachableMember
	for _, n := range free {
		knowsAll := true
		for _, m := range masters {
			knowsAll = knowsAll && n.knows(m.Self.ID)
		}
		if knowsAll {
			joined = append(joined, n)
		} else {
			joining = append(joining, n)
			out = append(out, WaitFor{Because(fmt.Sprintf("node %d is still joining the cluster", n.Index))})
		}
	}
	free = joined
	// The temporary node of a rolling update serves a shard whose own node is being replaced:
	// that node, back empty, is its replica, and takes the shard back from it.
	for _, m := range masters {
		if len(free) > 0 && m.Extra && m.Index == o.TemporaryIndex && len(replicasOf[m.Self.ID]) == 0 {
			out = append(out, Replicate{Because(fmt.Sprintf("make node %d a replica of temporary node %d, which holds its shard", free[0].Index, m.Index)),
				free[0].Addr(), m.Self.ID})
			replicasOf[m.Self.ID] = append(replicasOf[m.Self.ID], free[0])
			free = free[1:]
		}
	}
	// Nodes still joining are paired too, and attached in a later sync: paired one at a time as
	// they join, the last could find only the master on its own host left.
	pending := len(joining)
	free = append(withoutNewMasters(o, nodes, free), joining...)
	for len(free) > pending {
		r, m := bestReplicaPair(free, masters, replicasOf)
		if r < len(free)-pending {
			out = append(out, Replicate{Because(fmt.Sprintf("make node %d a replica of node %d", free[r].Index, masters[m].Index)),
				free[r].Addr(), masters[m].Self.ID})
		} else {
			pending--
		}
		replicasOf[masters[m].Self.ID] = append(replicasOf[masters[m].Self.ID], free[r])
		free = append(free[:r], free[r+1:]...)
	}
	if len(out) > 0 {
		return out
	}
	// Rebalance after failovers: a master with no replica takes one from a master with extra.
	for _, m := range masters {
		if len(replicasOf[m.Self.ID]) > 0 {
			continue
		}
		for _, donor := range masters {
			if reps := replicasOf[donor.Self.ID]; len(reps) > max(o.Replicas, 1) {
				r := pickMovableReplica(reps, m.Domain)
				out = append(out, Replicate{Because(fmt.Sprintf("move replica node %d to node %d, which has none", r.Index, m.Index)),
					r.Addr(), m.Self.ID})
				return out
			}
		}
	}
	for _, reps := range replicasOf {
		for _, r := range reps {
			down := r.State.LinkDownSeconds()
			// A replica in a full sync shows its link down until the sync ends; re-pointing it
			// would cancel the sync and make its master fork again.
			if !r.State.LinkUp() && !r.State.Syncing() && o.LinkDownLimit > 0 && down > o.LinkDownLimit {
				out = append(out, Replicate{Because(fmt.Sprintf("re-point replica node %d, its link is down for %ds", r.Index, down)),
					r.Addr(), r.Self.MasterID})
			}
		}
	}
	return out
}

// withoutNewMasters leaves out of free the empty masters a scale-out still needs as new masters
// (the ones planScale would choose), so that a sync while a task runs does not make every one a
// replica.
func withoutNewMasters(o *liveCluster, nodes, free []reachableMember) []reachableMember {
	// A master that does not answer still counts while some table gives it slots: its replica
	// is to take over.
	owning := map[string]bool{}
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if peer.Master() && len(peer.Slots) > 0 {
				owning[peer.ID] = true
			}
		}
	}
	need := o.Masters - len(owning)
	for _, n := range nodes {
		if n.Self.Master() && len(n.Self.Slots) == 0 && o.Migrating[n.Self.ID] {
			need-- // chosen already: it is handed slots
		}
	}
	if need <= 0 || len(free) == 0 {
		return free
	}
	kept := map[string]bool{}
	for _, n := range chooseMasters(free, min(need, len(free))) {
		kept[n.Self.ID] = true
	}
	var out []reachableMember
	for _, n := range free {
		if !kept[n.Self.ID] {
			out = append(out, n)
		}
	}
	return out
}

// bestReplicaPair picks the next replica to attach and its master: masters with the fewest
// replicas first, a master on another Kubernetes node than the replica where possible, and the
// replica with the fewest such choices first, so that greedy choices do not strand the last
// replica on its master's host.
func bestReplicaPair(free, masters []reachableMember, replicasOf map[string][]reachableMember) (int, int) {
	fewest := -1
	for _, m := range masters {
		if n := len(replicasOf[m.Self.ID]); fewest < 0 || n < fewest {
			fewest = n
		}
	}
	options := func(r reachableMember) int {
		n := 0
		for _, m := range masters {
			if len(replicasOf[m.Self.ID]) == fewest && m.Domain != r.Domain {
				n++
			}
		}
		return n
	}
	bestR, bestM := -1, -1
	var bestKey [4]int
	for i, r := range free {
		opts := options(r)
		for j, m := range masters {
			if len(replicasOf[m.Self.ID]) != fewest {
				continue
			}
			sameHost := 0
			if m.Domain == r.Domain {
				sameHost = 1
			}
			key := [4]int{sameHost, opts, r.Index, m.Index}
			if bestR < 0 || lessKey(key, bestKey) {
				bestR, bestM, bestKey = i, j, key
			}
		}
	}
	return bestR, bestM
}

func lessKey(a, b [4]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// pickMovableReplica prefers a replica not on host.
func pickMovableReplica(reps []reachableMember, host string) reachableMember {
	for _, r := range reps {
		if r.Domain != host {
			return r
		}
	}
	return reps[0]
}

// ownsSlots reports whether n's table names id a master that owns slots.
func ownsSlots(n reachableMember, id string) bool {
	peer, ok := n.State.Peer(id)
	return ok && peer.Master() && len(peer.Slots) > 0
}
