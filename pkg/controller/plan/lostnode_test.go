package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// A node lost without a trace in Kubernetes (its pod came back as a new node elsewhere) stays in
// the tables until flagged failed and forgotten; no event announces the flag, so the cluster is
// looked at again meanwhile, even when Ready.
func TestALostNodeStillListedIsLookedAtAgain(t *testing.T) {
	require.False(t, listsLostNode(testcluster.View(testcluster.Healthy()...)))
	nodes := testcluster.Healthy()
	nodes[0].Ghosts = []topology.NodeView{{ID: "gone", Addr: "10.0.0.9:10009", Flags: map[string]bool{"master": true}}}
	require.True(t, listsLostNode(testcluster.View(nodes...)))
	nodes[0].Ghosts[0].Flags["handshake"] = true
	require.False(t, listsLostNode(testcluster.View(nodes...)), "a handshake entry goes on its own")
}
