package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
)

func TestOverlap(t *testing.T) {
	cases := []struct {
		name string
		a, b PortRange
		want int32
		ok   bool
	}{
		{"disjoint", PortRange{10000, 10006}, PortRange{11000, 11006}, 0, false},
		{"adjacent", PortRange{10000, 10006}, PortRange{10006, 10012}, 0, false},
		{"client ports", PortRange{10000, 10006}, PortRange{10005, 10011}, 10005, true},
		{"client ports on another's bus ports", PortRange{20000, 20006}, PortRange{10000, 10006}, 20000, true},
		{"exporter ports on another's client ports", PortRange{10000, 10006}, PortRange{30003, 30004}, 30003, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port, ok := overlap(tc.a, tc.b)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, port)
			_, reverse := overlap(tc.b, tc.a)
			require.Equal(t, tc.ok, reverse, "overlap is symmetric")
		})
	}
}

func TestPortConflictBlocksOnlyTheLaterCluster(t *testing.T) {
	at := func(name, ns string, basePort int32, created time.Time) *redisv1beta1.RedisCluster {
		rc := testcluster.Cluster(name)
		rc.Namespace, rc.UID = ns, types.UID(ns+"/"+name)
		rc.Spec.BasePort = basePort
		rc.CreationTimestamp = metav1.NewTime(created)
		return rc
	}
	now := time.Now()
	first := at("first", "a", 10000, now)
	second := at("second", "b", 11000, now.Add(time.Second))
	late := at("late", "c", 10003, now.Add(2*time.Second))
	all := []*redisv1beta1.RedisCluster{late, second, first}
	ranges := func(rc *redisv1beta1.RedisCluster) PortRange { return HostPorts(rc, 0) }

	_, blocked := FirstPortConflict(first, ranges(first), all, ranges)
	require.False(t, blocked, "the first cluster keeps its ports")
	_, blocked = FirstPortConflict(second, ranges(second), all, ranges)
	require.False(t, blocked)
	msg, blocked := FirstPortConflict(late, ranges(late), all, ranges)
	require.True(t, blocked)
	require.Contains(t, msg, "RedisCluster a/first")
	require.Contains(t, msg, "first at port 10003")

	deleting := first.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	_, blocked = FirstPortConflict(late, ranges(late), []*redisv1beta1.RedisCluster{deleting}, ranges)
	require.False(t, blocked, "a cluster being deleted gives its ports up")
}

func TestHostPortsCoverUndrainedNodes(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	require.Equal(t, PortRange{10000, 10006}, HostPorts(rc, 4))
	require.Equal(t, PortRange{10000, 10008}, HostPorts(rc, 8))
}
