package plan

import (
	"fmt"

	"redis-operator/pkg/redisops/topology"
)

// restoreSlots are a restore's shard slots by the index of the node holding the shard.
func restoreSlots(r *RestoreState) map[int][]topology.SlotRange {
	if r == nil {
		return nil
	}
	out := make(map[int][]topology.SlotRange, len(r.Slots))
	for k, ranges := range r.Slots {
		out[k] = ranges
	}
	return out
}

// restoreUnowned gives the unowned slots of a restored shard to the node that holds the shard:
// a node started from a backup claims only the slots it has keys in, and the backup's other
// slots are its shard's too.
func restoreUnowned(o *liveCluster, nodes []reachableMember, unowned []topology.SlotRange) []Action {
	if len(o.RestoreSlots) == 0 {
		return nil
	}
	var free [topology.SlotCount]bool
	for _, r := range unowned {
		for s := r.Start; s <= r.End; s++ {
			free[s] = true
		}
	}
	var out []Action
	for _, n := range nodes {
		shard, ok := o.RestoreSlots[n.Index]
		if !ok || !n.Self.Master() {
			continue
		}
		var in [topology.SlotCount]bool
		for _, r := range shard {
			for s := r.Start; s <= r.End; s++ {
				in[s] = true
			}
		}
		give := topology.RangesOf(func(s int) bool { return free[s] && in[s] })
		if len(give) > 0 {
			out = append(out, ClaimLostSlots{Because(fmt.Sprintf("assign slots %v of the restored shard %d to node %d",
				topology.FormatRanges(give), n.Index, n.Index)), n.Addr(), give})
		}
	}
	return out
}
