package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// benchClusters is how many clusters BenchmarkClusters runs side by side.
const benchClusters = 20

// BenchmarkClusters measures what the operator costs as clusters add up. With one cluster (3x1,
// exporter off) and then with 20 created at once (after the time until all are Ready), each
// idle for a stretch (BENCH_IDLE, 5m by default): its CPU, memory and Kubernetes API requests
// per minute by verb, then a change's latency. Run it with hack/bench-clusters.sh.
func BenchmarkClusters(b *testing.B) {
	idle := 5 * time.Minute
	if v := os.Getenv("BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_IDLE: %v", err)
		}
		idle = d
	}
	op := f.StartOperator(b)
	ns := f.Namespace(b, "clusters")

	solo := benchCluster(b, ns, "solo")
	f.CreateCluster(b, solo)
	f.WaitReady(b, ns, "solo", 2*time.Minute)
	one := idleCost(b, op, idle)
	alone := changeLatencies(b, ns, "solo")
	if err := f.Redis.RedisV1beta1().RedisClusters(ns).Delete(context.Background(), "solo", metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	framework.WaitFor(b, time.Minute, "the solo cluster's pods to be gone", func() (bool, error) {
		pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})

	started := time.Now()
	names := make([]string, benchClusters)
	for i := range names {
		names[i] = fmt.Sprintf("c%02d", i)
		f.CreateCluster(b, benchCluster(b, ns, names[i]))
	}
	// One after the other: all are Ready once the last one waited for is.
	for _, name := range names {
		f.WaitReady(b, ns, name, 10*time.Minute)
	}
	allReady := time.Since(started)
	many := idleCost(b, op, idle)
	busy := changeLatencies(b, ns, names[benchClusters/2])

	fmt.Printf("\n%-52s %12s %12s %12s\n", "figure (idle stretch "+idle.String()+")", "1 cluster", fmt.Sprint(benchClusters, " clusters"), "target")
	fmt.Printf("%-52s %12s %11.1fs %12s\n", "created at once -> all Ready", "-", allReady.Seconds(), "-")
	fmt.Printf("%-52s %11.2f%% %11.2f%% %12s\n", "idle: operator CPU (of one core)", 100*one.cpu, 100*many.cpu, "-")
	fmt.Printf("%-52s %10.0fMB %10.0fMB %12s\n", "idle: operator resident memory", one.rss/1e6, many.rss/1e6, "-")
	fmt.Printf("%-52s %10.0fMB %10.0fMB %12s\n", "idle: Go heap in use", one.heap/1e6, many.heap/1e6, "-")
	fmt.Printf("%-52s %12.1f %12.1f %12s\n", "idle: reconciles per minute", one.reconciles, many.reconciles, "-")
	fmt.Printf("%-52s %10.1fms %10.1fms %12s\n", "idle: mean time of a reconcile", 1000*one.reconcileTime, 1000*many.reconcileTime, "-")
	fmt.Printf("%-52s %12.1f %12.1f %12s\n", "idle: Kubernetes API requests per minute", one.requests, many.requests, "-")
	fmt.Printf("%-52s %12.1f %12.1f %12s\n", "idle: of which writes (the leader's Lease left out)", one.writes, many.writes, "0")
	for _, r := range many.rates {
		fmt.Printf("%-52s %12s %12.1f %12s\n", "  "+r.verb+" "+r.resource, "", r.perMinute, "")
	}
	fmt.Printf("%-52s %11.2fs %11.2fs %12s\n", "maxMemory changed -> live on every node (median of 3)", median(alone).Seconds(), median(busy).Seconds(), "as 1 cluster")
	b.ReportMetric(allReady.Seconds(), "s/all-ready")
	b.ReportMetric(100*many.cpu, "%cpu-idle")
	b.ReportMetric(many.writes, "writes/min-idle")
	b.ReportMetric(median(busy).Seconds(), "s/change-among-20")
	b.ReportMetric(median(alone).Seconds(), "s/change-alone")
}

func benchCluster(b *testing.B, ns, name string) *redisv1beta1.RedisCluster {
	rc := framework.NewCluster(ns, name, f.FreeBasePort(b))
	rc.Spec.MaxMemory = "100mb"
	rc.Spec.Exporter = &redisv1beta1.ExporterSpec{Enabled: ptr.To(false)}
	return rc
}

// changeLatencies changes the cluster's maxMemory three times and times each change until every
// node runs it.
func changeLatencies(b *testing.B, ns, name string) []time.Duration {
	rc := f.WaitReady(b, ns, name, time.Minute)
	var out []time.Duration
	for i, mb := range []int{101, 102, 103} {
		started := time.Now()
		patch := fmt.Sprintf(`{"spec":{"maxMemory":"%dmb"}}`, mb)
		if _, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), name,
			types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprint(mb << 20)
		framework.WaitFor(b, time.Minute, fmt.Sprintf("change %d live on every node", i+1), func() (bool, error) {
			for _, addr := range framework.NodeAddrs(rc) {
				if got, err := configOf(context.Background(), addr, "", "maxmemory"); err != nil || got != want {
					return false, err
				}
			}
			return true, nil
		})
		out = append(out, time.Since(started))
		f.WaitReady(b, ns, name, time.Minute)
	}
	return out
}

// cost is what the operator spent over an idle stretch: CPU as a share of one core, memory at
// its end, Kubernetes API requests per minute.
type cost struct {
	cpu, rss, heap   float64
	requests, writes float64
	rates            []apiRate
	// reconciles per minute and the mean time of one
	reconciles, reconcileTime float64
}

// idleCost lets the last statuses and Events of what just happened land, then measures an idle
// stretch.
func idleCost(b *testing.B, op *framework.Operator, idle time.Duration) cost {
	time.Sleep(30 * time.Second)
	before := scrape(b, op)
	started := time.Now()
	time.Sleep(idle)
	after := scrape(b, op)
	minutes := time.Since(started).Minutes()
	c := cost{
		cpu:  (after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]) / minutes / 60,
		rss:  after["process_resident_memory_bytes"],
		heap: after["go_memstats_heap_inuse_bytes"],
	}
	count, sum := sumSeries(before, after, "redis_operator_reconcile_duration_seconds_count{"), sumSeries(before, after, "redis_operator_reconcile_duration_seconds_sum{")
	if count > 0 {
		c.reconciles, c.reconcileTime = count/minutes, sum/count
	}
	c.rates = apiRates(before, after, minutes)
	for _, r := range c.rates {
		c.requests += r.perMinute
		if r.write && r.resource != "leases" {
			c.writes += r.perMinute
		}
	}
	return c
}

// sumSeries is how much the series whose names start with prefix grew, all labels summed.
func sumSeries(before, after map[string]float64, prefix string) float64 {
	var n float64
	for series, v := range after {
		if strings.HasPrefix(series, prefix) {
			n += v - before[series]
		}
	}
	return n
}

func scrape(b *testing.B, op *framework.Operator) map[string]float64 {
	series, err := op.Scrape()
	if err != nil {
		b.Fatal(err)
	}
	return series
}

type apiRate struct {
	verb, resource string
	write          bool
	perMinute      float64
	target         string
}

// apiRates is the operator's Kubernetes API requests per minute between two scrapes, by verb and
// resource, busiest first.
func apiRates(before, after map[string]float64, minutes float64) []apiRate {
	const name = "redis_operator_kube_api_requests_total{"
	sums := map[[2]string]float64{}
	for series, v := range after {
		if !strings.HasPrefix(series, name) {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(series, name), "}"), ",") {
			k, val, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(val, `"`)
		}
		sums[[2]string{labels["verb"], labels["resource"]}] += v - before[series]
	}
	var out []apiRate
	for k, n := range sums {
		if n == 0 {
			continue
		}
		r := apiRate{verb: k[0], resource: k[1], perMinute: n / minutes, target: "-"}
		switch r.verb {
		case "create", "update", "patch", "delete", "deletecollection":
			r.write = true
			r.target = "0"
			if r.resource == "leases" {
				r.target = "the lease"
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].perMinute > out[j].perMinute })
	return out
}
