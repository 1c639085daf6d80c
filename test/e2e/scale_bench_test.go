package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"redis-operator/pkg/redisops"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/redistest"
	"redis-operator/test/tlstest"
)

const benchKeys = 200000

// BenchmarkScaleOut measures 3 -> 4 masters with 200,000 keys through the operator in the
// sandbox, beside the tool users would otherwise reach for on local servers: redis-cli
// --cluster add-node, then rebalance --cluster-use-empty-masters. It runs once in the clear and
// once with every link over TLS, each beside redis-cli the same way. Run it with
// hack/bench-scale.sh.
func BenchmarkScaleOut(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchScaleOut(b, nil) })
	b.Run("tls", func(b *testing.B) {
		creds := tlstest.NewCA(b, "bench-ca").ValidNode(b)
		benchScaleOut(b, &creds)
	})
}

// benchScaleOut is BenchmarkScaleOut over TLS with creds, in the clear when nil.
func benchScaleOut(b *testing.B, creds *tlstest.Credentials) {
	opts := []framework.ClusterOption{framework.Shape(3, 0)}
	mode := "plain"
	if creds != nil {
		opts, mode = append(opts, framework.WithTLS(*creds)), "TLS"
	}
	rc := f.ReadyCluster(b, "bench", opts...)
	ns := rc.Namespace
	framework.WriteKeys(b, framework.ClusterClient(b, rc), "bench", benchKeys)

	started := time.Now()
	if _, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), "bench", types.MergePatchType,
		[]byte(`{"spec":{"masters":4}}`), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	var migrationStart time.Time
	framework.WaitFor(b, 5*time.Minute, "the migration to start", func() (bool, error) {
		cur := f.Cluster(b, ns, "bench")
		if m := cur.Status.Migration; m != nil && m.StartTime != nil {
			migrationStart = m.StartTime.Time
			return true, nil
		}
		return false, nil
	})
	rc = f.WaitReady(b, ns, "bench", 5*time.Minute)
	total := time.Since(started)
	migration := time.Since(migrationStart)
	f.CheckInvariants(b, rc)

	cliTotal, cliRebalance := redisCLIScaleOut(b, creds)
	moved := float64(benchKeys) / 4
	fmt.Printf("\n%-54s %10s %10s %7s\n", "3 -> 4 masters, 200,000 keys, "+mode, "operator", "redis-cli", "ratio")
	fmt.Printf("%-54s %9.2fs %9.2fs %7.2f\n", "whole scale-out (new node joins, slots move)", total.Seconds(), cliTotal.Seconds(), total.Seconds()/cliTotal.Seconds())
	fmt.Printf("%-54s %9.2fs %9.2fs %7.2f\n", "slot migration alone", migration.Seconds(), cliRebalance.Seconds(), migration.Seconds()/cliRebalance.Seconds())
	fmt.Printf("%-54s %9.0f %10.0f\n", "keys moved per second (about 50,000 keys)", moved/migration.Seconds(), moved/cliRebalance.Seconds())
	b.ReportMetric(total.Seconds(), "s/operator-scale-out")
	b.ReportMetric(cliTotal.Seconds(), "s/redis-cli-scale-out")
	b.ReportMetric(migration.Seconds(), "s/operator-migration")
	b.ReportMetric(cliRebalance.Seconds(), "s/redis-cli-rebalance")
}

// redisCLIScaleOut forms 3 masters on local servers (over TLS with creds when set), loads the
// same keys, then times add-node of a fourth (waiting, as one must, until it says
// cluster_state:ok) and the rebalance.
func redisCLIScaleOut(b *testing.B, creds *tlstest.Credentials) (total, rebalance time.Duration) {
	opts := redistest.Options{NodeTimeout: 5000}
	admin := redisops.NewAdmin("")
	var cli []string
	var config *tls.Config
	if creds != nil {
		files := creds.Write(b, b.TempDir())
		client := creds.ClientCredentials(b)
		config = redisops.TLSConfig(func() *redisops.TLSCredentials { return client })
		opts.TLS, admin = &files, redisops.NewTLSAdmin(config, "")
		cli = []string{"--tls", "--cacert", files.CAFile, "--cert", files.CertFile, "--key", files.KeyFile}
	}
	defer admin.Close()
	servers := redistest.StartServers(b, 4, opts)
	redistest.BootstrapCluster(b, admin, servers[:3], 3)
	client := redistest.TLSClusterClient(b, servers[:3], config)
	ctx := context.Background()
	for start := 0; start < benchKeys; start += 1000 {
		pipe := client.Pipeline()
		for i := start; i < start+1000; i++ {
			pipe.Set(ctx, fmt.Sprintf("bench:%d", i), i, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	started := time.Now()
	if out, err := exec.Command("redis-cli", append(cli, "--cluster", "add-node", servers[3].Addr, servers[0].Addr)...).CombinedOutput(); err != nil {
		b.Fatalf("add-node: %v\n%s", err, out)
	}
	framework.WaitFor(b, time.Minute, "the new node to be ok", func() (bool, error) {
		view := admin.View(ctx, redistest.Addrs(servers))
		for _, s := range view.Nodes {
			if !s.StateOK() {
				return false, nil
			}
		}
		return true, nil
	})
	rebalanceStart := time.Now()
	if out, err := exec.Command("redis-cli", append(cli, "--cluster", "rebalance", servers[0].Addr, "--cluster-use-empty-masters")...).CombinedOutput(); err != nil {
		b.Fatalf("rebalance: %v\n%s", err, out)
	}
	return time.Since(started), time.Since(rebalanceStart)
}
