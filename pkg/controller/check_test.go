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

// The webhook asks before a scale-in: CheckMasters answers from the cluster as last seen.
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
	full := shape(70)
	c, _, _ := full.newController()
	require.NoError(t, c.CheckMasters("cache", "rc", 3), "a cluster not seen yet is not refused")
	require.NoError(t, c.syncHandler(context.Background(), cache.ObjectName{Namespace: "cache", Name: "rc"}))
	err := c.CheckMasters("cache", "rc", 3)
	require.ErrorContains(t, err, "does not fit in memory")
	require.NoError(t, c.CheckMasters("cache", "rc", 5), "growing always fits")

	roomy := shape(50)
	c, _, _ = roomy.newController()
	require.NoError(t, c.syncHandler(context.Background(), cache.ObjectName{Namespace: "cache", Name: "rc"}))
	require.NoError(t, c.CheckMasters("cache", "rc", 3))
}
