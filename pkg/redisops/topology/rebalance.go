package topology

import (
	"fmt"
	"sort"
)

// SlotMove moves one slot from the master Source to the master Target (node ids).
type SlotMove struct {
	Slot           int
	Source, Target string
}

// PlanRebalance returns the slot moves that leave the slots spread evenly over masters (every
// master within one slot of SlotCount/len(masters)) while moving the fewest slots: a master keeps
// what it has up to its share, masters not in the list (being drained) give everything, and no
// slot moves twice. Each donor gives away runs of its highest slots and each receiver takes runs
// in order, so ranges stay contiguous where they can. owners maps every slot to its master's id;
// a slot without an owner is an error, since its data has no source.
func PlanRebalance(owners [SlotCount]string, masters []string) ([]SlotMove, error) {
	if len(masters) == 0 {
		return nil, fmt.Errorf("no master to hold the slots")
	}
	wanted := map[string]bool{}
	for _, m := range masters {
		if wanted[m] {
			return nil, fmt.Errorf("master %s listed twice", m)
		}
		wanted[m] = true
	}
	held := map[string][]int{}
	for slot, id := range owners {
		if id == "" {
			return nil, fmt.Errorf("slot %d has no owner", slot)
		}
		held[id] = append(held[id], slot)
	}
	share := shares(masters, held)

	// Donors give their highest slots beyond their share (all of them when drained).
	var give []SlotMove
	donors := make([]string, 0, len(held))
	for id := range held {
		donors = append(donors, id)
	}
	sort.Strings(donors)
	for _, id := range donors {
		keep := share[id] // zero for a drained master
		slots := held[id]
		for _, slot := range slots[min(keep, len(slots)):] {
			give = append(give, SlotMove{Slot: slot, Source: id})
		}
	}
	sort.Slice(give, func(i, j int) bool { return give[i].Slot < give[j].Slot })

	// Receivers take the given slots in order until their share is full.
	i := 0
	for _, m := range masters {
		for need := share[m] - len(held[m]); need > 0; need-- {
			if i >= len(give) {
				return nil, fmt.Errorf("internal error: %d slots given, more wanted", len(give))
			}
			give[i].Target = m
			i++
		}
	}
	if i != len(give) {
		return nil, fmt.Errorf("internal error: %d slots given, %d taken", len(give), i)
	}
	return give, nil
}

// shares is how many slots each master should hold: SlotCount/n, with the remainder going to the
// masters that hold the most already, so that fewer slots move.
func shares(masters []string, held map[string][]int) map[string]int {
	n := len(masters)
	order := append([]string(nil), masters...)
	sort.SliceStable(order, func(i, j int) bool { return len(held[order[i]]) > len(held[order[j]]) })
	out := make(map[string]int, n)
	for i, m := range order {
		out[m] = SlotCount / n
		if i < SlotCount%n {
			out[m]++
		}
	}
	return out
}

// MoveRanges groups moves by source and target into runs of consecutive slots, in slot order.
func MoveRanges(moves []SlotMove) map[[2]string][]SlotRange {
	bySlot := map[[2]string]map[int]bool{}
	for _, m := range moves {
		pair := [2]string{m.Source, m.Target}
		if bySlot[pair] == nil {
			bySlot[pair] = map[int]bool{}
		}
		bySlot[pair][m.Slot] = true
	}
	out := map[[2]string][]SlotRange{}
	for pair, slots := range bySlot {
		out[pair] = RangesOf(func(s int) bool { return slots[s] })
	}
	return out
}
