package framework

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Node i of a cluster listens on basePort+i for clients, and on the bus and exporter ports
// redisv1beta1.BusPortOffset and ExporterPortOffset above that.
const (
	// portBlock is how many node indexes each cluster of a run may use from its basePort. The
	// largest clusters of the tests, 5 masters with a replica each or 3 with two, and the rolling
	// update's temporary node, use 11.
	portBlock = 40
	// The clients' ports handed out lie in [firstBasePort, endBasePort): above the seed
	// manifest's cluster on 10000, and below the bus ports (+10000) of all of them and of the
	// seed's, so that no client, bus or exporter port of one cluster is another's.
	firstBasePort = 11000
	endBasePort   = 20000
)

// portBlocks hands out blocks of ports in order, so no two clusters of a run share one.
var portBlocks = struct {
	sync.Mutex
	next int32
}{next: firstBasePort}

// FreeBasePort is a basePort for a cluster of the test: the first block of portBlock node
// ports no other cluster of the run was given, that no stored RedisCluster's ports overlap (a
// namespace of an earlier run may still be going) and on which nothing listens.
func (f *Framework) FreeBasePort(t testing.TB) int32 {
	t.Helper()
	portBlocks.Lock()
	defer portBlocks.Unlock()
	stored, err := f.Redis.RedisV1beta1().RedisClusters(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing RedisClusters for their ports: %v", err)
	}
	for ; portBlocks.next+portBlock <= endBasePort; portBlocks.next += portBlock {
		base := portBlocks.next
		if other := storedOverlapping(stored.Items, base); other != "" {
			t.Logf("ports %d-%d: %s uses some; trying the next block", base, base+portBlock-1, other)
			continue
		}
		if busy := listening(base); busy != nil {
			t.Logf("ports %d-%d: %v; trying the next block", base, base+portBlock-1, busy)
			continue
		}
		portBlocks.next += portBlock
		return base
	}
	t.Fatalf("no free block of %d node ports left below %d", portBlock, endBasePort)
	return 0
}

// storedOverlapping names a stored cluster whose block of node ports overlaps the one at base.
func storedOverlapping(stored []redisv1beta1.RedisCluster, base int32) string {
	for _, rc := range stored {
		end := rc.Spec.BasePort + int32(max(portBlock, rc.Spec.NodeCount()+1))
		if rc.Spec.BasePort < base+portBlock && base < end {
			return rc.Namespace + "/" + rc.Name
		}
	}
	return ""
}

// listening says which port of the block at base something listens on, if any: the client,
// bus or exporter port of any of its nodes.
func listening(base int32) error {
	for i := int32(0); i < portBlock; i++ {
		for _, offset := range []int32{0, redisv1beta1.BusPortOffset, redisv1beta1.ExporterPortOffset} {
			port := strconv.Itoa(int(base + i + offset))
			ln, err := net.Listen("tcp", ":"+port)
			if err != nil {
				return fmt.Errorf("port %s is taken: %w", port, err)
			}
			_ = ln.Close()
		}
	}
	return nil
}
