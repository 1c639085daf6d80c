package topology

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const nodesFixture = `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 [93-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail? 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 disconnected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 5462 [77->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
aaaa000000000000000000000000000000000000 :0@0 master,noaddr - 1426238316232 1426238316232 0 disconnected
bbbb000000000000000000000000000000000000 127.0.0.1:30009@40009 handshake - 0 0 0 connected
`

func TestParseClusterNodes(t *testing.T) {
	nodes, err := ParseClusterNodes(nodesFixture)
	require.NoError(t, err)
	require.Len(t, nodes, 7)

	replica := nodes[0]
	require.Equal(t, "127.0.0.1:30004", replica.Addr)
	require.Equal(t, 31004, replica.BusPort)
	require.Equal(t, "host-4", replica.Hostname)
	require.False(t, replica.Master())
	require.Equal(t, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca", replica.MasterID)
	require.True(t, replica.Linked)
	require.True(t, replica.Usable())

	importer := nodes[2]
	require.Equal(t, []SlotRange{{10923, 16383}}, importer.Slots)
	require.Equal(t, "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1", importer.Importing[93])

	suspect := nodes[3]
	require.True(t, suspect.Failed())
	require.False(t, suspect.Linked)
	require.False(t, suspect.Usable())

	self := nodes[4]
	require.True(t, self.Myself())
	require.True(t, self.Master())
	require.Equal(t, int64(1), self.Epoch)
	require.Equal(t, []SlotRange{{0, 5460}, {5462, 5462}}, self.Slots)
	require.Equal(t, "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f", self.Migrating[77])

	noaddr := nodes[5]
	require.Empty(t, noaddr.Addr)
	require.False(t, noaddr.Usable())
	require.False(t, nodes[6].Usable(), "a node in handshake is not yet a member")
}

func TestParseClusterNodesErrors(t *testing.T) {
	for _, bad := range []string{
		"abc 127.0.0.1:1@2 master",
		"abc 127.0.0.1:1@2 master - 0 0 1 connected 0-99999",
		"abc 127.0.0.1:1@2 master - 0 0 1 connected [5-?-x]",
	} {
		_, err := ParseClusterNodes(bad)
		require.Error(t, err, bad)
	}
}

func TestParseInfo(t *testing.T) {
	info := ParseInfo("# Cluster\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\n")
	require.Equal(t, "ok", info["cluster_state"])
	require.Equal(t, "16384", info["cluster_slots_assigned"])
}
