package topology

import (
	"math/rand"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// layout gives the ranges of EvenSplit(len(ids)) to ids in order.
func layout(ids ...string) [SlotCount]string {
	var owners [SlotCount]string
	for i, r := range EvenSplit(len(ids)) {
		for s := r.Start; s <= r.End; s++ {
			owners[s] = ids[i]
		}
	}
	return owners
}

// checkPlan applies moves to owners and checks the properties every plan must have.
func checkPlan(t *testing.T, owners [SlotCount]string, masters []string, moves []SlotMove) {
	t.Helper()
	moved := map[int]bool{}
	for _, m := range moves {
		if moved[m.Slot] || owners[m.Slot] != m.Source || m.Source == m.Target {
			t.Fatalf("bad move %+v (moved before: %v, owner %q)", m, moved[m.Slot], owners[m.Slot])
		}
		moved[m.Slot] = true
		owners[m.Slot] = m.Target
	}
	wanted := map[string]bool{}
	for _, m := range masters {
		wanted[m] = true
	}
	count := map[string]int{}
	for slot, id := range owners {
		if !wanted[id] {
			t.Fatalf("slot %d ends on %q, not a wanted master", slot, id)
		}
		count[id]++
	}
	lo, hi := SlotCount, 0
	for _, m := range masters {
		lo, hi = min(lo, count[m]), max(hi, count[m])
	}
	require.LessOrEqual(t, hi-lo, 1, "uneven: %v", count)
}

func TestPlanRebalanceScaleOut(t *testing.T) {
	owners := layout("a", "b", "c")
	moves, err := PlanRebalance(owners, []string{"a", "b", "c", "d"})
	require.NoError(t, err)
	checkPlan(t, owners, []string{"a", "b", "c", "d"}, moves)
	require.Len(t, moves, 4096, "only the new master's share moves")
	for _, m := range moves {
		require.Equal(t, "d", m.Target)
	}
	ranges := MoveRanges(moves)
	require.Len(t, ranges, 3, "one contiguous run from each old master")
	for _, rs := range ranges {
		require.Len(t, rs, 1)
	}
}

func TestPlanRebalanceScaleIn(t *testing.T) {
	owners := layout("a", "b", "c", "d")
	moves, err := PlanRebalance(owners, []string{"a", "b", "c"})
	require.NoError(t, err)
	checkPlan(t, owners, []string{"a", "b", "c"}, moves)
	require.Len(t, moves, 4096, "only the drained master's slots move")
	for _, m := range moves {
		require.Equal(t, "d", m.Source)
	}
}

func TestPlanRebalanceBalancedNeedsNothing(t *testing.T) {
	moves, err := PlanRebalance(layout("a", "b", "c"), []string{"c", "a", "b"})
	require.NoError(t, err)
	require.Empty(t, moves)
}

func TestPlanRebalanceRefusesBadInput(t *testing.T) {
	owners := layout("a", "b", "c")
	_, err := PlanRebalance(owners, nil)
	require.Error(t, err)
	_, err = PlanRebalance(owners, []string{"a", "a", "b"})
	require.Error(t, err)
	owners[7] = ""
	_, err = PlanRebalance(owners, []string{"a", "b", "c"})
	require.ErrorContains(t, err, "slot 7 has no owner")
}

// TestPlanRebalanceProperties checks random layouts and master sets: every slot ends on one
// wanted master, the spread is even, no slot moves twice, and the number of moves is the least
// possible.
func TestPlanRebalanceProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for round := 0; round < 300; round++ {
		var owners [SlotCount]string
		current := 1 + rng.Intn(8)
		// Random contiguous runs of random owners.
		for s := 0; s < SlotCount; {
			run := 1 + rng.Intn(3000)
			id := "n" + strconv.Itoa(rng.Intn(current))
			for ; run > 0 && s < SlotCount; run, s = run-1, s+1 {
				owners[s] = id
			}
		}
		var masters []string
		for i := 0; i < current+3; i++ {
			if rng.Intn(3) > 0 {
				masters = append(masters, "n"+strconv.Itoa(i))
			}
		}
		if len(masters) == 0 {
			masters = []string{"n0"}
		}
		moves, err := PlanRebalance(owners, masters)
		require.NoError(t, err)
		checkPlan(t, owners, masters, moves)
		require.Equal(t, leastMoves(owners, masters), len(moves), "round %d", round)
	}
}

// leastMoves is the fewest moves any even spread needs: slots beyond what each master may keep,
// where the larger shares go to the masters that hold the most.
func leastMoves(owners [SlotCount]string, masters []string) int {
	held := map[string]int{}
	for _, id := range owners {
		held[id]++
	}
	counts := make([]int, len(masters))
	for i, m := range masters {
		counts[i] = held[m]
	}
	// Sort descending.
	for i := range counts {
		for j := i + 1; j < len(counts); j++ {
			if counts[j] > counts[i] {
				counts[i], counts[j] = counts[j], counts[i]
			}
		}
	}
	kept := 0
	for i, c := range counts {
		share := SlotCount / len(masters)
		if i < SlotCount%len(masters) {
			share++
		}
		kept += min(c, share)
	}
	return SlotCount - kept
}
