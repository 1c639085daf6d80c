package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// A slot moved while a backup streams the shards would be in two snapshots or in none: the
// migration waits, the rest of the plan goes on, and the Scaling condition says why.
func TestSlotsWaitForARunningBackup(t *testing.T) {
	actions := []Action{
		Replicate{Because: "make node 4 a replica of node 0"},
		MigrateSlots{Because: "scale out", Moves: []topology.SlotMove{{}}},
	}
	held := holdMigrations(actions, "nightly")
	require.Len(t, held, 2)
	require.IsType(t, Replicate{}, held[0])
	require.Equal(t, "moving slots waits for backup nightly, which is streaming the shards", held[1].Why())
	require.Equal(t, actions[:1], holdMigrations(actions[:1], "nightly"), "nothing to hold, nothing said")

	o := clusterFixture(3, 1, testcluster.Healthy()...)
	h := assessCluster(o, held, nil)
	require.Contains(t, h.scaling, held[1].Why())
}
