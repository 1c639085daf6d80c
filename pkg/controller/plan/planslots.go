package plan

import (
	"fmt"
	"sort"

	"redis-operator/pkg/redisops/topology"
)

// planRepair closes slots left importing or migrating. A slot whose owner migrates it to a node
// that does not answer but may come back waits for it: rolling back now would leave the keys
// already moved on that node, hidden, to overwrite newer ones when it returns.
func planRepair(o *liveCluster, nodes []reachableMember, owners *slotOwners, byID map[string]reachableMember) []Action {
	open := map[int]bool{}
	for _, n := range nodes {
		for s := range n.Self.Migrating {
			open[s] = true
		}
		for s := range n.Self.Importing {
			open[s] = true
		}
	}
	var slots []int
	for s := range open {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	if point := planPointOwners(nodes, owners, byID, slots); len(point) > 0 {
		return point
	}
	var out []Action
	for _, s := range slots {
		owner, ok := byID[owners[s]]
		if !ok {
			continue // no live owner: the unowned-slot step gives it one first
		}
		if away := awayTarget(o, owner, s, byID); away != "" {
			out = append(out, WaitForData{Because(away)})
			continue
		}
		out = append(out, RepairSlot{Because(fmt.Sprintf("repair open slot %d", s)), s, owner.Addr()})
	}
	return out
}

// awayTarget says why slot, which owner migrates, waits: its target does not answer and its
// data may come back. Empty when the slot need not wait.
func awayTarget(o *liveCluster, owner reachableMember, slot int, byID map[string]reachableMember) string {
	id, migrating := owner.Self.Migrating[slot]
	if _, live := byID[id]; !migrating || live {
		return ""
	}
	peer, known := owner.State.Peer(id)
	if m, ok := o.memberAt(peer.Addr); known && ok && m.mayReturnAs(peer.Addr) {
		return fmt.Sprintf("slot %d is migrating to node %s (pod %s), which does not answer; waiting for it to return with its keys",
			slot, ShortID(id), m.Pod)
	}
	return ""
}

// planPointOwners tells a node with open slots which live master owns them, where its table
// names another (or none). Redis ignores ownership gossip for a slot it imports, so after the
// source of a migration fails over, the target keeps the dead source as owner and counts the
// cluster down, refusing the MIGRATE that would return its keys. One action per node and owner.
func planPointOwners(nodes []reachableMember, owners *slotOwners, byID map[string]reachableMember, open []int) []Action {
	var out []Action
	for _, n := range nodes {
		if !n.Self.Master() {
			continue
		}
		wrong := map[string][]int{}
		for _, s := range open {
			_, migrating := n.Self.Migrating[s]
			if !migrating && n.Self.Importing[s] == "" {
				continue
			}
			owner, live := byID[owners[s]]
			if !live || owner.Self.ID == n.Self.ID || n.State.Owner(s) == owner.Self.ID {
				continue
			}
			wrong[owner.Self.ID] = append(wrong[owner.Self.ID], s)
		}
		ids := make([]string, 0, len(wrong))
		for id := range wrong {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			slots := wrong[id]
			out = append(out, PointOwner{Because(fmt.Sprintf("tell node %d that node %d owns %d open slots", n.Index, byID[id].Index, len(slots))),
				n.Addr(), id, slots})
		}
	}
	return out
}

// planUnownedSlots gives slots without a live owner to a node: empty masters first (a replacement
// of a master lost with no replica), else the master with the fewest slots. Such slots' data is
// gone; the action says so.
func planUnownedSlots(o *liveCluster, nodes []reachableMember, owners *slotOwners, byID map[string]reachableMember) []Action {
	// A slot is unowned only when no reachable node's table gives it to a node that did not
	// answer: such an owner may merely be slow. A live master's own line is the truth about its
	// slots; others' tables may keep a claim it gave up, which Redis corrects only on a newer one.
	var claimed [topology.SlotCount]bool
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if _, live := byID[peer.ID]; live {
				continue
			}
			for _, r := range peer.Slots {
				for s := r.Start; s <= r.End; s++ {
					claimed[s] = true
				}
			}
		}
	}
	unowned := topology.RangesOf(func(s int) bool { return owners[s] == "" && !claimed[s] })
	if len(unowned) == 0 {
		return waitForDeadOwners(nodes, byID)
	}
	if out := restoreUnowned(o, nodes, unowned); len(out) > 0 {
		return out
	}
	var empty, holders []reachableMember
	for _, n := range nodes {
		switch {
		case n.Self.Master() && len(n.Self.Slots) == 0 && !n.Extra:
			empty = append(empty, n)
		case n.Self.Master():
			holders = append(holders, n)
		}
	}
	masters := 0
	for _, n := range holders {
		if len(n.Self.Slots) > 0 {
			masters++
		}
	}
	var receivers []reachableMember
	if need := o.Masters - masters; need > 0 && len(empty) > 0 {
		receivers = chooseMasters(empty, need)
	} else if len(holders) > 0 {
		sort.Slice(holders, func(i, j int) bool {
			return topology.CountSlots(holders[i].Self.Slots) < topology.CountSlots(holders[j].Self.Slots)
		})
		receivers = holders[:1]
	} else {
		return []Action{WaitFor{"no master to take the unowned slots"}}
	}
	chunks := topology.SplitRanges(unowned, len(receivers))
	var out []Action
	for i, r := range receivers {
		if len(chunks[i]) == 0 {
			continue
		}
		out = append(out, ClaimLostSlots{Because(fmt.Sprintf("assign unowned slots %v to node %d", topology.FormatRanges(chunks[i]), r.Index)),
			r.Addr(), chunks[i]})
	}
	return out
}

// waitForDeadOwners waits while slots belong to a master that does not answer: its replica may
// take over, or it may come back.
func waitForDeadOwners(nodes []reachableMember, byID map[string]reachableMember) []Action {
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if _, live := byID[peer.ID]; live || !peer.Master() || len(peer.Slots) == 0 {
				continue
			}
			if hasLiveReplica(nodes, peer.ID) {
				return []Action{WaitFor{Because(fmt.Sprintf("waiting for a replica of failed master %s to take over", ShortID(peer.ID)))}}
			}
			return []Action{WaitFor{Because(fmt.Sprintf("waiting for master %s, which owns slots, to answer", ShortID(peer.ID)))}}
		}
	}
	return nil
}
