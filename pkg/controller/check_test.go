package controller

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/topology"
)

// An Event about a large cluster stays bounded and says what it left out.
func TestEventsAreBounded(t *testing.T) {
	f := newFixture(t)
	rc := testcluster.Cluster("rc")
	f.clusters = append(f.clusters, rc)
	c, _, _ := f.newController()
	var met meetings
	for i := 0; i < 500; i++ {
		met.add(testcluster.Addr(i), testcluster.Addr(i+1))
	}
	met.report(c, rc)
	recorded := <-c.recorder.(*record.FakeRecorder).Events
	require.LessOrEqual(t, len(recorded), maxEventMessage+len("Normal MetNode "), recorded)
	require.Contains(t, recorded, "more")
	require.True(t, strings.HasPrefix(recorded, "Normal MetNode Introduced nodes: "+testcluster.Addr(0)+" met "+testcluster.Addr(1)), recorded)
}

// The webhook asks before a scale-in. Any replica of the operator may get the alert: one that
// never synced the cluster (a follower) answers as the leader does, from the cluster as it is.
func TestCheckMastersRefusesAScaleInThatDoesNotFit(t *testing.T) {
	shape := func(dataMiB int) *fixture {
		rc := testcluster.Cluster("rc")
		rc.Spec.Masters, rc.Spec.Replicas = 4, 0
		split := topology.EvenSplit(4)
		var nodes []testcluster.Node
		for i := 0; i < 4; i++ {
			nodes = append(nodes, testcluster.Node{Index: i, Host: string(rune('a' + i%3)), ID: "m" + string(rune('0'+i)), Master: true,
				Slots: split[i : i+1], StateOK: true, DataMiB: dataMiB})
		}
		return liveFixture(t, rc, nodes...)
	}
	ctx := context.Background()
	full := shape(70)
	follower, _, _ := full.newController()
	refusal := follower.CheckMasters(ctx, "cache", "rc", 3)
	require.ErrorContains(t, refusal, "does not fit in memory", "a replica that never synced refuses too")
	require.NoError(t, follower.CheckMasters(ctx, "cache", "rc", 5), "growing always fits")
	leader, _, _ := full.newController()
	require.NoError(t, leader.syncHandler(ctx, cache.ObjectName{Namespace: "cache", Name: "rc"}))
	require.Equal(t, refusal, leader.CheckMasters(ctx, "cache", "rc", 3), "the leader answers alike")

	roomy := shape(50)
	c, _, _ := roomy.newController()
	require.NoError(t, c.CheckMasters(ctx, "cache", "rc", 3))
	require.Empty(t, roomy.redis.writes(), "asking changes nothing")

	// The same data, crowded by hash tags into node 3's first slots, which all go to node 0.
	roomy.redis.slotBytes = map[int]int64{12288: 20 << 20, 12289: 20 << 20}
	require.ErrorContains(t, c.CheckMasters(ctx, "cache", "rc", 3), "node 0 would use 92.0 MiB of 100.0 MiB maxmemory (limit 90%; estimated from the key counts")
}
