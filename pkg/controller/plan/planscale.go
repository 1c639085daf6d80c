package plan

import (
	"fmt"
	"sort"

	"redis-operator/pkg/redisops/topology"
)

// planScale brings the number of slot-owning masters to the spec and spreads the slots evenly:
// new masters are wanted nodes that joined empty and count the cluster ok; when there are too
// many, the highest-index masters are drained (nodes above the wanted count first).
func planScale(o *liveCluster, nodes []reachableMember, owners *slotOwners) []Action {
	keep, moves, first := scaleMoves(o, nodes, owners)
	if len(first) > 0 {
		return first
	}
	if len(moves) == 0 {
		return nil
	}
	for _, m := range keep {
		if !m.State.StateOK() {
			// MIGRATE to or from a node that counts the cluster down is refused (CLUSTERDOWN).
			return []Action{WaitFor{Because(fmt.Sprintf("waiting for node %d to count the cluster ok before moving slots", m.Index))}}
		}
	}
	if reason := unsettledEpochs(nodes); reason != "" {
		return []Action{WaitFor{Because(reason)}}
	}
	if reason := overMemory(nodes, moves, len(keep), o.SlotMemory); reason != "" {
		return []Action{NotEnoughMemory{Because(reason)}}
	}
	return []Action{MigrateSlots{Because(fmt.Sprintf("move %d slots to spread them over %d masters", len(moves), len(keep))), moves}}
}

// scaleMoves are the masters planScale keeps and the slot moves that spread the slots over
// them, or what comes first: why it waits, or the new masters' replicas to link.
func scaleMoves(o *liveCluster, nodes []reachableMember, owners *slotOwners) ([]reachableMember, []topology.SlotMove, []Action) {
	if o.temporaryAtWantedIndex() {
		return nil, nil, nil // the roll goes first; assessCluster says the scale waits
	}
	var masters, free []reachableMember
	for _, n := range nodes {
		switch {
		case isSlotOwner(n):
			masters = append(masters, n)
		case n.Self.Master() && !n.Extra:
			free = append(free, n)
		}
	}
	sort.Slice(masters, func(i, j int) bool {
		if masters[i].Extra != masters[j].Extra {
			return !masters[i].Extra
		}
		return masters[i].Index < masters[j].Index
	})
	keep := masters
	switch {
	case len(masters) > o.Masters:
		keep = masters[:o.Masters]
	case len(masters) < o.Masters:
		need := o.Masters - len(masters)
		var joined []reachableMember
		for _, n := range free {
			// It must know every master and be known by each: SETSLOT on a master refuses a
			// node id it has not met.
			knowsAll := n.State.StateOK()
			for _, m := range masters {
				knowsAll = knowsAll && n.knows(m.Self.ID) && m.knows(n.Self.ID)
			}
			if knowsAll {
				joined = append(joined, n)
			}
		}
		if len(joined) < need {
			return nil, nil, []Action{WaitFor{Because(fmt.Sprintf("waiting for %d new masters to join (%d ready)", need, len(joined)))}}
		}
		chosen := chooseMasters(joined, need)
		if o.Replicas > 0 {
			if first := replicasFirst(nodes, chosen, joined, o.Replicas); len(first) > 0 {
				return nil, nil, first
			}
		}
		keep = append(append([]reachableMember(nil), masters...), chosen...)
	}
	ids := make([]string, len(keep))
	for i, m := range keep {
		ids[i] = m.Self.ID
	}
	moves, err := topology.PlanRebalance(*owners, ids)
	if err != nil {
		return nil, nil, []Action{WaitFor{Because("cannot plan the slot spread: " + err.Error())}}
	}
	return keep, moves, nil
}

// memoryLimit is the share of a master's maxmemory the keys it would hold after a move may take;
// above it the move is refused. The rest is room for writes while slots move and for the
// estimate's error.
const memoryLimit = 0.9

// overMemory says why moves do not fit, when a master receiving slots would then use more than
// memoryLimit of its maxmemory: its used memory plus what the keys of the slots it receives
// take. That is est's figure for a slot it counted; for any other, the source's dataset memory
// spread evenly over its slots, which misses the keys' overhead and crowded slots. A master
// without maxmemory takes anything. A move that does not fit would fail half-way with the
// target refusing keys (OOM) under noeviction, or evict keys.
func overMemory(nodes []reachableMember, moves []topology.SlotMove, masters int, est *topology.SlotMemory) string {
	byID := map[string]reachableMember{}
	for _, n := range nodes {
		byID[n.Self.ID] = n
	}
	gain := map[string]float64{}
	counted := 0
	for _, m := range moves {
		if est != nil {
			if b, ok := est.Bytes[m.Slot]; ok {
				gain[m.Target] += float64(b)
				counted++
				continue
			}
		}
		src := byID[m.Source]
		if slots := topology.CountSlots(src.Self.Slots); slots > 0 {
			gain[m.Target] += float64(src.State.DatasetBytes()) / float64(slots)
		}
	}
	ids := make([]string, 0, len(gain))
	for id := range gain {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	const mib = 1 << 20
	for _, id := range ids {
		n := byID[id]
		limit := float64(n.State.MaxMemoryBytes())
		after := float64(n.State.UsedBytes()) + gain[id]
		if limit > 0 && after > memoryLimit*limit {
			return fmt.Sprintf("spreading the slots over %d masters does not fit in memory: node %d would use %.1f MiB of %.1f MiB maxmemory (limit %.0f%%; %s)",
				masters, n.Index, after/mib, limit/mib, memoryLimit*100, estimateMethod(len(moves), counted, est))
		}
	}
	return ""
}

// estimateMethod says how overMemory estimated the memory of the moving slots.
func estimateMethod(moving, counted int, est *topology.SlotMemory) string {
	counts := ""
	if counted > 0 {
		counts = fmt.Sprintf("the key counts of the slots that move (%d keys in %d slots) times the sizes of %d sampled keys, overhead included",
			est.Keys, counted, est.Sampled)
	}
	switch {
	case counted == moving:
		return "estimated from " + counts
	case counted == 0:
		return "estimated from each source's dataset memory spread evenly over its slots"
	default:
		return fmt.Sprintf("estimated from %s, and for %d slots from their source's dataset memory spread evenly", counts, moving-counted)
	}
}

// unsettledEpochs says why slots may not move yet while a slot owner shares its config epoch
// with another master. Redis settles such a collision by raising one node's epoch; were that a
// source in the middle of a move, its newer claim would take back the slots a target had just
// been handed, and the target would drop their keys. With every owner's epoch its own, the epoch
// a target takes on when it is handed slots is above every source's. (Empty new masters may
// share epoch 0: raising theirs takes nothing from anyone.)
func unsettledEpochs(nodes []reachableMember) string {
	masters := map[int64][]reachableMember{}
	for _, n := range nodes {
		if n.Self.Master() {
			masters[n.Self.Epoch] = append(masters[n.Self.Epoch], n)
		}
	}
	for _, n := range nodes {
		sharing := masters[n.Self.Epoch]
		if isSlotOwner(n) && len(sharing) > 1 {
			other := sharing[0]
			if other.Self.ID == n.Self.ID {
				other = sharing[1]
			}
			return fmt.Sprintf("waiting for nodes %d and %d to settle their shared config epoch %d",
				n.Index, other.Index, n.Self.Epoch)
		}
	}
	return ""
}

// planRemove removes nodes above the wanted count that own no slots, replicas first.
func planRemove(o *liveCluster, nodes []reachableMember) []Action {
	var replicas, masters []Action
	for _, n := range nodes {
		if !n.Extra || isSlotOwner(n) || o.isTemporary(n.Member) {
			continue
		}
		a := RemoveNode{Because(fmt.Sprintf("remove node %d, above the wanted count", n.Index)), n.Member, n.Self.ID}
		if n.Self.Master() {
			masters = append(masters, a)
		} else {
			replicas = append(replicas, a)
		}
	}
	return append(replicas, masters...)
}

// ownerNodes are the nodes that own slots.
func ownerNodes(nodes []reachableMember) []reachableMember {
	var out []reachableMember
	for _, n := range nodes {
		if isSlotOwner(n) {
			out = append(out, n)
		}
	}
	return out
}

// planHandOver moves the master role off nodes above the wanted count: after failovers a slot
// owner may sit at an index being removed, which would keep the shrink from ever finishing. Its
// replica at a kept index with a live link takes over gracefully (no write lost); with no such
// replica, planScale drains its slots.
func planHandOver(nodes []reachableMember) []Action {
	var out []Action
	for _, m := range nodes {
		if !m.Extra || !isSlotOwner(m) {
			continue
		}
		for _, r := range nodes {
			if !r.Extra && !r.Outdated && !r.Self.Master() && r.Self.MasterID == m.Self.ID && r.State.LinkUp() &&
				knownAsReplica(r, ownerNodes(nodes)) {
				out = append(out, Failover{Because(fmt.Sprintf("node %d takes over from master node %d, whose index is being removed", r.Index, m.Index)),
					r.Addr(), m.Self.ID, topology.FailoverGraceful})
				break
			}
		}
	}
	return out
}
