package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	redislisters "redis-operator/pkg/generated/listers/redis/v1beta1"
)

// benchMux is the API's mux over 200 clusters of 6 nodes in 20 namespaces, served from a real
// lister as the operator's informer fills it.
func benchMux(b *testing.B) *http.ServeMux {
	b.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for i := range 200 {
		name := fmt.Sprintf("cluster%d", i)
		var nodes []redisv1beta1.NodeStatus
		for n := range int32(6) {
			role, slots := redisv1beta1.RoleReplica, []string(nil)
			if n < 3 {
				role, slots = redisv1beta1.RoleMaster, []string{fmt.Sprintf("%d-%d", n*5461, n*5461+5460)}
			}
			nodes = append(nodes, redisv1beta1.NodeStatus{
				Pod: fmt.Sprintf("%s-%d", name, n), IP: fmt.Sprintf("10.0.%d.%d", i%250, n+1), Port: 10000 + n,
				Role: role, NodeID: fmt.Sprintf("%040x", i*6+int(n)), Slots: slots, Ready: true,
			})
		}
		if err := indexer.Add(readyCluster(fmt.Sprintf("ns%d", i%20), name, nodes...)); err != nil {
			b.Fatal(err)
		}
	}
	s := New(Options{Clusters: redislisters.NewRedisClusterLister(indexer), Registerer: prometheus.NewRegistry(), Log: zerolog.Nop()})
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// BenchmarkClusterNodes is GET /cluster/nodes through the real mux, handler, metrics and JSON, on
// one goroutine (run with -cpu 1 for one core); the network is left to the load run
// (hack/bench-http.sh).
func BenchmarkClusterNodes(b *testing.B) {
	mux := benchMux(b)
	for _, query := range []string{"clusterName=cluster42&namespace=ns2", "clusterName=cluster42"} {
		b.Run(query, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/cluster/nodes?"+query, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
