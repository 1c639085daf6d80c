package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// Restored nodes claim the slots they hold keys in; the backup's other slots go back to the
// shard that had them, not by an even split.
func TestARestoredShardGetsBackTheSlotsTheBackupGaveIt(t *testing.T) {
	backup := [][]topology.SlotRange{{{Start: 0, End: 999}}, {{Start: 1000, End: 9999}}, {{Start: 10000, End: 16383}}}
	nodes := testcluster.EmptyNodes(3, true)
	nodes[0].Slots = []topology.SlotRange{{Start: 5, End: 5}, {Start: 900, End: 901}}
	nodes[1].Slots = []topology.SlotRange{{Start: 1000, End: 1000}}
	nodes[2].Slots = []topology.SlotRange{{Start: 16383, End: 16383}}
	o := clusterFixture(3, 0, nodes...)
	o.RestoreSlots = restoreSlots(&RestoreState{Slots: backup})
	p := planOf(o)
	require.Equal(t, []string{"assignLost", "assignLost", "assignLost"}, kinds(p))
	got := map[string][]topology.SlotRange{}
	for _, a := range p.Actions {
		got[a.Addr] = a.Ranges
	}
	require.Equal(t, map[string][]topology.SlotRange{
		testcluster.Addr(0): {{Start: 0, End: 4}, {Start: 6, End: 899}, {Start: 902, End: 999}},
		testcluster.Addr(1): {{Start: 1001, End: 9999}},
		testcluster.Addr(2): {{Start: 10000, End: 16382}},
	}, got)

	o.RestoreSlots = nil
	p = planOf(o)
	require.NotEqual(t, 1001, p.Actions[0].Ranges[0].Start, "without a restore the smallest holder takes them")
}
