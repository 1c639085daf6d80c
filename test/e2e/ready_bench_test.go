package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/redistest"
)

// benchRuns is how many times each figure is measured; the median is reported.
const benchRuns = 5

// BenchmarkReady measures, in the sandbox, the time from creating the seed cluster to Ready and
// from deleting a master's pod to Ready again, beside the floor Redis itself sets on plain local
// servers: redis-cli --cluster create of 3 masters and 3 replicas until every node is ok and
// every replica linked. Run it with hack/bench-ready.sh.
func BenchmarkReady(b *testing.B) {
	f.StartOperator(b)
	var create, heal, floor []time.Duration
	for run := 0; run < benchRuns; run++ {
		ns := f.Namespace(b, "bench")
		rc := framework.NewCluster(ns, "bench", f.FreeBasePort(b))
		started := time.Now()
		f.CreateCluster(b, rc)
		rc = f.WaitReady(b, ns, "bench", 2*time.Minute)
		create = append(create, time.Since(started))

		master := podOfRole(b, rc, redisv1beta1.RoleMaster).Pod
		started = time.Now()
		if err := f.Kube.CoreV1().Pods(ns).Delete(context.Background(), master, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		waitNotReady(b, ns, "bench")
		f.WaitReady(b, ns, "bench", 2*time.Minute)
		heal = append(heal, time.Since(started))

		if err := f.Redis.RedisV1beta1().RedisClusters(ns).Delete(context.Background(), "bench", metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		framework.WaitFor(b, time.Minute, "the cluster's pods to be gone", func() (bool, error) {
			pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			return err == nil && len(pods.Items) == 0, err
		})
		floor = append(floor, redisCLICreate(b))
	}
	fmt.Printf("\n%-52s %10s %10s\n", "figure (median of "+strconv.Itoa(benchRuns)+" runs)", "operator", "redis floor")
	fmt.Printf("%-52s %9.2fs %9.2fs\n", "new 3x1 cluster: create -> Ready", median(create).Seconds(), median(floor).Seconds())
	fmt.Printf("%-52s %9.2fs %10s\n", "master pod deleted -> Ready, node-timeout 5s", median(heal).Seconds(), "-")
	b.ReportMetric(median(create).Seconds(), "s/create-to-ready")
	b.ReportMetric(median(heal).Seconds(), "s/heal-master")
	b.ReportMetric(median(floor).Seconds(), "s/redis-cli-create")
}

// redisCLICreate times redis-cli --cluster create on six fresh local servers until the cluster
// is ok everywhere with its replicas linked.
func redisCLICreate(b *testing.B) time.Duration {
	servers := redistest.StartServers(b, 6, redistest.Options{NodeTimeout: 5000})
	args := append([]string{"--cluster", "create"}, redistest.Addrs(servers)...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	started := time.Now()
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		b.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	admin := redisops.NewAdmin("")
	defer admin.Close()
	framework.WaitFor(b, time.Minute, "the redis-cli cluster to be ok", func() (bool, error) {
		view := admin.View(context.Background(), redistest.Addrs(servers))
		for _, s := range view.Nodes {
			self, _ := s.Self()
			if !s.StateOK() || (!self.Master() && !s.LinkUp()) {
				return false, nil
			}
		}
		return true, nil
	})
	elapsed := time.Since(started)
	for _, s := range servers {
		s.Kill()
	}
	return elapsed
}

func median(ds []time.Duration) time.Duration {
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[len(sorted)/2]
}
