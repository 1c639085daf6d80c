package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// A replica replaced to spread the shards lands on a crowded node again: the empty domain it was
// meant for is not offered again for a while, and the layout's risk says why.
func TestSpreadLeavesAloneADomainThatRefusedItsPod(t *testing.T) {
	rc := testcluster.Cluster("rc")
	now := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	hosts := []string{"a", "a", "b", "b", "a", "b"}
	observe := func(landed string, uid types.UID, at time.Time) *liveCluster {
		o := &Observation{Cluster: rc, Now: now, Pods: map[int]*corev1.Pod{},
			Domains: map[string]string{"a": "a", "b": "b", "d": "d"}}
		for i, host := range hosts {
			o.Pods[i] = objects.Pod(rc, i)
			o.Pods[i].Spec.NodeName = host
		}
		o.Pods[3].UID, o.Pods[3].Spec.NodeName = uid, landed
		o.SpreadTry = &SpreadTry{Pod: "rc-3", OldUID: "old", Toward: []string{"d"}, At: at}
		return plannerInput(rc, o)
	}

	in := observe("a", "new", now.Add(-time.Minute))
	require.Empty(t, in.EmptyDomains, "d refused the replacement")
	require.Contains(t, in.SpreadRefused, "pod rc-3, replaced to spread shards, did not land in d but on a")
	require.Contains(t, in.SpreadRefused, "not tried again before 2026-12-07T05:09:00Z")

	nodes := testcluster.Healthy()
	nodes[3].Host = "a" // the replica of master 0 shares its node
	live := clusterFixture(3, 1, nodes...)
	live.EmptyDomains, live.SpreadRefused = in.EmptyDomains, in.SpreadRefused
	p, risk := planSpread(live)
	require.Empty(t, p, "no pod is replaced again")
	require.Contains(t, risk, "master 0 and its replica share node a")
	require.Contains(t, risk, "did not land in d")

	in = observe("d", "new", now.Add(-time.Minute))
	require.Empty(t, in.SpreadRefused, "landed where meant")
	require.Empty(t, in.EmptyDomains, "d holds a pod now")
	for name, in := range map[string]*liveCluster{
		"not yet scheduled":    observe("", "new", now.Add(-time.Minute)),
		"the old pod, not yet": observe("a", "old", now.Add(-time.Minute)),
		"tried long ago":       observe("a", "new", now.Add(-SpreadRetryAfter)),
	} {
		require.Equal(t, []string{"d"}, in.EmptyDomains, name)
		require.Empty(t, in.SpreadRefused, name)
	}
}
