package plan

import (
	"fmt"
	"sort"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// PortRange is the half-open range [first, end) of client ports of a cluster's nodes. The bus
// and exporter ports are the same range shifted by fixed offsets.
type PortRange struct{ first, end int32 }

// HostPorts is the client port range a cluster holds: enough for its wanted nodes, and for any
// node it still runs beyond that (a scale-in not yet drained).
func HostPorts(rc *redisv1beta1.RedisCluster, runningNodes int) PortRange {
	n := rc.Spec.NodeCount()
	if runningNodes > n {
		n = runningNodes
	}
	return PortRange{first: rc.Spec.BasePort, end: rc.Spec.BasePort + int32(n)}
}

// shifted lists the three ranges a node range occupies on a host.
func (r PortRange) shifted() [3]PortRange {
	return [3]PortRange{
		r,
		{r.first + redisv1beta1.BusPortOffset, r.end + redisv1beta1.BusPortOffset},
		{r.first + redisv1beta1.ExporterPortOffset, r.end + redisv1beta1.ExporterPortOffset},
	}
}

// overlap returns the first port both a and b occupy on a host, if any.
func overlap(a, b PortRange) (int32, bool) {
	for _, x := range a.shifted() {
		for _, y := range b.shifted() {
			lo, hi := max(x.first, y.first), min(x.end, y.end)
			if lo < hi {
				return lo, true
			}
		}
	}
	return 0, false
}

func (r PortRange) String() string {
	return fmt.Sprintf("%d-%d, %d-%d and %d-%d", r.first, r.end-1,
		r.first+redisv1beta1.BusPortOffset, r.end-1+redisv1beta1.BusPortOffset,
		r.first+redisv1beta1.ExporterPortOffset, r.end-1+redisv1beta1.ExporterPortOffset)
}

// FirstPortConflict reports the cluster among others whose host ports overlap rc's and which came
// first (older, or same age and earlier by namespace/name). The first one keeps its ports; the
// later one is not created. ranges gives each cluster's range keyed by namespace/name.
func FirstPortConflict(rc *redisv1beta1.RedisCluster, mine PortRange, others []*redisv1beta1.RedisCluster,
	ranges func(*redisv1beta1.RedisCluster) PortRange) (string, bool) {
	sorted := append([]*redisv1beta1.RedisCluster(nil), others...)
	sort.Slice(sorted, func(i, j int) bool { return comesBefore(sorted[i], sorted[j]) })
	for _, other := range sorted {
		if other.UID == rc.UID || other.DeletionTimestamp != nil || !comesBefore(other, rc) {
			continue
		}
		theirs := ranges(other)
		if port, ok := overlap(mine, theirs); ok {
			return fmt.Sprintf("host ports %s overlap those of RedisCluster %s/%s (%s), first at port %d; choose another basePort",
				mine, other.Namespace, other.Name, theirs, port), true
		}
	}
	return "", false
}

func comesBefore(a, b *redisv1beta1.RedisCluster) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// NodePorts are the host ports node index of rc listens on: client, bus and exporter.
func NodePorts(rc *redisv1beta1.RedisCluster, index int) [3]int32 {
	port := rc.Spec.NodePort(index)
	return [3]int32{port, port + redisv1beta1.BusPortOffset, port + redisv1beta1.ExporterPortOffset}
}

// HeldMessage says which nodes cannot be created and why, in node order.
func HeldMessage(held map[int]string) string {
	indexes := make([]int, 0, len(held))
	for index := range held {
		indexes = append(indexes, index)
	}
	sort.Ints(indexes)
	parts := make([]string, len(indexes))
	for i, index := range indexes {
		parts[i] = held[index]
	}
	return "host ports taken: " + JoinBounded(parts, MaxConditionMessage/2) +
		"; those nodes are not created: choose another basePort, or a size that fits"
}
