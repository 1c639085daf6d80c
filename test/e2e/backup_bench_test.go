package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/redistest"
	"redis-operator/test/s3test"
)

// Bounds and shape of the backup benchmark's data.
const (
	// defaultBenchBackupMB is the data written, in MB (10^6 bytes); BENCH_BACKUP_MB overrides it.
	defaultBenchBackupMB = 1000
	benchValueMin        = 1 << 10
	benchValueMax        = 10 << 10
	// benchFillBatch keys go in one pipeline: about 1.4 MB.
	benchFillBatch   = 256
	benchFillWriters = 4
	benchFillTimeout = 4 * time.Minute
	// benchStepTimeout bounds each measured step and each wait.
	benchStepTimeout = 5 * time.Minute
)

// BenchmarkBackupAndRestore measures, in the sandbox and in one run, a backup of a 3x1 cluster
// (persistence on) holding about 1 GB, and its restore onto a new cluster of 3 masters, beside
// what one would do by hand with stock tools on the same nodes and the same S3 server (versitygw
// on loopback): redis-cli --rdb of every master at once then `aws s3 cp` of the files, and `aws
// s3 cp` back then redis-server started on each file. Run it with hack/bench-backup.sh.
func BenchmarkBackupAndRestore(b *testing.B) {
	aws := os.Getenv("AWS_CLI")
	if aws == "" {
		var err error
		if aws, err = exec.LookPath("aws"); err != nil {
			b.Fatal("aws (the AWS CLI) is not on PATH: hack/bench-backup.sh installs Debian's awscli")
		}
	}
	target := int64(defaultBenchBackupMB) * 1e6
	if v := os.Getenv("BENCH_BACKUP_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb < 1 {
			b.Fatalf("BENCH_BACKUP_MB=%q: want a positive number of MB", v)
		}
		target = int64(mb) * 1e6
	}
	// Each node may hold the whole data set: shards are never quite even, and a full node
	// refuses writes (noeviction).
	maxMemory := fmt.Sprintf("%dmb", max(512, target/1e6))

	rc := f.ReadyCluster(b, "source", persistent, framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
		s.MaxMemory = maxMemory
	}))
	ns := rc.Namespace
	s3 := s3test.Start(b)
	s3.Bucket(b, backupBucket)
	if _, err := f.Kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3"},
		StringData: map[string]string{"accessKeyID": s3.AccessKey, "secretAccessKey": s3.SecretKey},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	dest := &redisv1beta1.BackupDestination{Endpoint: s3.Endpoint, Insecure: true, Region: s3.Region, Bucket: backupBucket,
		Prefix: "bench", CredentialsSecret: "s3"}

	fillStart := time.Now()
	keys, written := fillCluster(b, rc, target)
	b.Logf("wrote %d keys, %.1f MB of values, in %.1fs", keys, float64(written)/1e6, time.Since(fillStart).Seconds())
	rc = settleCluster(b, ns, rc.Name)
	checkNodes(b, rc, keys)

	// (a) The operator's backup, from the request to Succeeded.
	jobRSS := watchPeakRSS("backup-shard")
	started := time.Now()
	if _, err := f.Redis.RedisV1beta1().RedisClusterBackups(ns).Create(context.Background(), &redisv1beta1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec:       redisv1beta1.RedisClusterBackupSpec{ClusterName: rc.Name, Destination: dest},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	var backup *redisv1beta1.RedisClusterBackup
	framework.WaitFor(b, benchStepTimeout, "the backup to succeed", func() (bool, error) {
		var err error
		backup, err = f.Redis.RedisV1beta1().RedisClusterBackups(ns).Get(context.Background(), "bench", metav1.GetOptions{})
		if err == nil && backup.Status.Phase == redisv1beta1.BackupFailed {
			b.Fatalf("backup failed: %s", backup.Status.Message)
		}
		return err == nil && backup.Status.Phase == redisv1beta1.BackupSucceeded, err
	})
	opBackup := time.Since(started)
	jobPeak, jobs := jobRSS.stop()
	if backup.Status.Keys != keys {
		b.Fatalf("the backup holds %d keys, %d were written", backup.Status.Keys, keys)
	}

	// (b) By hand: every master's RDB at once, then one upload of the files.
	dumps := b.TempDir()
	masters := mastersOf(rc)
	cliRSS := watchPeakRSS("--rdb")
	dumpTime, refSize := dumpRDBs(b, masters, dumps)
	cliPeak, _ := cliRSS.stop()
	remote := "s3://" + backupBucket + "/reference/" + ns + "/"
	uploadTime, awsUpPeak := awsCopy(b, aws, s3, dumps, remote)

	// (c) The operator's restore onto 3 masters without replicas, as the reference's servers
	// have none, from creating the cluster until the restore succeeded and it is Ready.
	initRSS := watchPeakRSS("restore-shard")
	restored := framework.NewCluster(ns, "restored", f.FreeBasePort(b))
	restored.Spec.Masters, restored.Spec.Replicas, restored.Spec.MaxMemory = 3, 0, maxMemory
	restored.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
	restored.Spec.Restore = &redisv1beta1.RestoreSpec{BackupName: "bench"}
	started = time.Now()
	f.CreateCluster(b, restored)
	framework.WaitFor(b, benchStepTimeout, "the restored cluster to be Ready", func() (bool, error) {
		restored = f.Cluster(b, ns, "restored")
		st := restored.Status.Restore
		if st != nil && st.Phase == redisv1beta1.RestoreFailed {
			b.Fatalf("restore failed: %s", st.Message)
		}
		return st != nil && st.Phase == redisv1beta1.RestoreSucceeded && restored.Status.ObservedGeneration == restored.Generation &&
			meta.IsStatusConditionTrue(restored.Status.Conditions, redisv1beta1.ConditionReady), nil
	})
	opRestore := time.Since(started)
	initPeak, inits := initRSS.stop()
	f.CheckInvariants(b, restored)
	if got := countKeys(b, framework.NodeAddrs(restored)); got != keys {
		b.Fatalf("the restored cluster holds %d keys, %d were written", got, keys)
	}

	// (d) By hand: download the files, then a redis-server on each until it has loaded it.
	loads := b.TempDir()
	downloadTime, awsDownPeak := awsCopy(b, aws, s3, remote, loads)
	loadTime := loadRDBs(b, loads, len(masters), keys)

	version, _ := exec.Command(aws, "--version").CombinedOutput()
	mb := func(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }
	opBackupRate, refBackupRate := mb(backup.Status.Size, opBackup), mb(refSize, dumpTime+uploadTime)
	opRestoreRate, refRestoreRate := mb(backup.Status.Size, opRestore), mb(refSize, downloadTime+loadTime)
	fmt.Printf("\n3x1 cluster, persistence on: %d keys of 1-10 KB; operator's backup %.1f MB, redis-cli's RDBs %.1f MB (MB = 10^6 bytes)\n",
		keys, float64(backup.Status.Size)/1e6, float64(refSize)/1e6)
	fmt.Printf("reference: redis-cli %s, %s", redisCLIVersion(), version)
	fmt.Printf("%-58s %10s %10s %7s\n", "", "operator", "reference", "ratio")
	fmt.Printf("%-58s %9.2fs %9.2fs\n", "backup: request -> Succeeded | rdb + upload", opBackup.Seconds(), (dumpTime + uploadTime).Seconds())
	fmt.Printf("%-58s %10s %9.2fs\n", "  redis-cli --rdb of the 3 masters at once", "", dumpTime.Seconds())
	fmt.Printf("%-58s %10s %9.2fs\n", "  aws s3 cp --recursive of the 3 files", "", uploadTime.Seconds())
	fmt.Printf("%-58s %10.1f %10.1f %7.2f\n", "backup MB/s", opBackupRate, refBackupRate, opBackupRate/refBackupRate)
	fmt.Printf("%-58s %9.2fs %9.2fs\n", "restore: create 3 masters -> Ready | download + load", opRestore.Seconds(), (downloadTime + loadTime).Seconds())
	fmt.Printf("%-58s %10s %9.2fs\n", "  aws s3 cp --recursive of the 3 files", "", downloadTime.Seconds())
	fmt.Printf("%-58s %10s %9.2fs\n", "  redis-server on each file until loaded, 3 at once", "", loadTime.Seconds())
	fmt.Printf("%-58s %10.1f %10.1f %7.2f\n", "restore MB/s", opRestoreRate, refRestoreRate, opRestoreRate/refRestoreRate)
	fmt.Printf("peak RSS: backup Job pod %s (of %d), restore init container %s (of %d); redis-cli %s, aws up %s, aws down %s\n",
		mib(jobPeak), jobs, mib(initPeak), inits, mib(cliPeak), mib(awsUpPeak), mib(awsDownPeak))
	b.ReportMetric(opBackupRate, "MB/s-operator-backup")
	b.ReportMetric(refBackupRate, "MB/s-reference-backup")
	b.ReportMetric(opRestoreRate, "MB/s-operator-restore")
	b.ReportMetric(refRestoreRate, "MB/s-reference-restore")
}

// fillCluster writes keys with random values of 1-10 KB, pipelined from a few writers, until
// the values add up to target bytes; it returns the keys and bytes written. Random values keep
// the RDB as large as the data: Redis compresses each string on its own.
func fillCluster(b *testing.B, rc *redisv1beta1.RedisCluster, target int64) (keys, written int64) {
	b.Helper()
	pool := make([]byte, 64<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(pool)
	// Longer timeouts than framework.ClusterClient's: a node forking for an AOF rewrite under
	// this load may stall for seconds.
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: framework.NodeAddrs(rc), Protocol: 2, DisableIdentity: true,
		MaxRedirects: 16, DialTimeout: 2 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), benchFillTimeout)
	defer cancel()
	var next, claimed, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchFillWriters)
	for range benchFillWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each batch is at least benchFillBatch KB, which bounds the count of batches.
			for claimed.Load() < target {
				batch := next.Add(1) - 1
				r := rand.New(rand.NewPCG(uint64(batch), 0))
				var size int64
				_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := range int64(benchFillBatch) {
						n := benchValueMin + r.IntN(benchValueMax-benchValueMin+1)
						off := r.IntN(len(pool) - n)
						p.Set(ctx, "bkp:"+strconv.FormatInt(batch*benchFillBatch+i, 10), pool[off:off+n], 0)
						size += int64(n)
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("batch %d: %w", batch, err)
					return
				}
				claimed.Add(size)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("filling the cluster: %v", err)
	}
	// Keys are numbered from 0 with no gap only if every batch taken was written.
	if next.Load() != done.Load() {
		b.Fatalf("%d batches started, %d written", next.Load(), done.Load())
	}
	return done.Load() * benchFillBatch, claimed.Load()
}

// settleCluster waits until every replica has all of its master's writes and no node rewrites
// its AOF or saves, so that the backups measure streaming and not a fork left from the fill.
func settleCluster(b *testing.B, ns, name string) *redisv1beta1.RedisCluster {
	b.Helper()
	rc := f.WaitReady(b, ns, name, benchStepTimeout)
	framework.WaitFor(b, benchStepTimeout, "replicas in sync and no rewrite running", func() (bool, error) {
		type replica struct{ master, offset string }
		offsets := map[string]string{}
		var replicas []replica
		for _, n := range rc.Status.Nodes {
			info, err := nodeInfoOf(n, "persistence", "replication")
			if err != nil {
				return false, err
			}
			for _, busy := range []string{"aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress"} {
				if info[busy] != "0" {
					return false, fmt.Errorf("%s: %s=%s", n.Pod, busy, info[busy])
				}
			}
			if n.Role == redisv1beta1.RoleMaster {
				offsets[n.NodeID] = info["master_repl_offset"]
				continue
			}
			if info["master_link_status"] != "up" {
				return false, fmt.Errorf("%s: master link %s", n.Pod, info["master_link_status"])
			}
			replicas = append(replicas, replica{n.MasterNodeID, info["slave_repl_offset"]})
		}
		for _, r := range replicas {
			if r.offset != offsets[r.master] {
				return false, fmt.Errorf("a replica is at offset %s, its master at %s", r.offset, offsets[r.master])
			}
		}
		return true, nil
	})
	return rc
}

// checkNodes fails unless the masters hold every key written and each has room to spare
// under its maxmemory.
func checkNodes(b *testing.B, rc *redisv1beta1.RedisCluster, keys int64) {
	b.Helper()
	for _, n := range rc.Status.Nodes {
		if n.Role != redisv1beta1.RoleMaster {
			continue
		}
		info, err := nodeInfoOf(n, "memory")
		if err != nil {
			b.Fatal(err)
		}
		used, _ := strconv.ParseInt(info["used_memory"], 10, 64)
		limit, _ := strconv.ParseInt(info["maxmemory"], 10, 64)
		b.Logf("%s: used_memory %.1f MB of maxmemory %.1f MB", n.Pod, float64(used)/1e6, float64(limit)/1e6)
		if limit == 0 || used > limit*8/10 {
			b.Fatalf("%s uses %d bytes of maxmemory %d: raise spec.maxMemory", n.Pod, used, limit)
		}
	}
	var masters []string
	for _, n := range mastersOf(rc) {
		masters = append(masters, net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port))))
	}
	if got := countKeys(b, masters); got != keys {
		b.Fatalf("the masters hold %d keys, %d were written", got, keys)
	}
}

// nodeInfoOf is the node's INFO sections as a map.
func nodeInfoOf(n redisv1beta1.NodeStatus, sections ...string) (map[string]string, error) {
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port))), Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := c.Info(ctx, sections...).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: INFO: %w", n.Pod, err)
	}
	info := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			info[k] = v
		}
	}
	return info, nil
}

func mastersOf(rc *redisv1beta1.RedisCluster) []redisv1beta1.NodeStatus {
	var out []redisv1beta1.NodeStatus
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleMaster {
			out = append(out, n)
		}
	}
	return out
}

// countKeys adds up DBSIZE of the nodes at addrs.
func countKeys(b *testing.B, addrs []string) int64 {
	b.Helper()
	var total int64
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
		n, err := c.DBSize(context.Background()).Result()
		_ = c.Close()
		if err != nil {
			b.Fatalf("DBSIZE on %s: %v", addr, err)
		}
		total += n
	}
	return total
}

// dumpRDBs runs redis-cli --rdb against every master at once, each into dir/shard-<i>.rdb, and
// returns the time until all are written and their bytes.
func dumpRDBs(b *testing.B, masters []redisv1beta1.NodeStatus, dir string) (time.Duration, int64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchStepTimeout)
	defer cancel()
	errs := make([]error, len(masters))
	var wg sync.WaitGroup
	started := time.Now()
	for i, n := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "redis-cli", "-h", n.IP, "-p", strconv.Itoa(int(n.Port)),
				"--rdb", filepath.Join(dir, fmt.Sprintf("shard-%d.rdb", i)))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("redis-cli --rdb from %s: %v\n%s", n.Pod, err, out)
			}
		}()
	}
	wg.Wait()
	took := time.Since(started)
	var size int64
	for i, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(dir, fmt.Sprintf("shard-%d.rdb", i)))
		if err != nil {
			b.Fatal(err)
		}
		size += st.Size()
	}
	return took, size
}

// awsCopy runs `aws s3 cp --recursive src dst` against the S3 server, with its keys and region
// and nothing from a configuration file, and returns how long it took and its peak RSS (KiB).
func awsCopy(b *testing.B, aws string, s3 *s3test.Server, src, dst string) (time.Duration, int64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchStepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, aws, "--endpoint-url", "http://"+s3.Endpoint, "s3", "cp", "--recursive", "--only-show-errors", src, dst)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
		"AWS_DEFAULT_REGION="+s3.Region, "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true")
	rss := watchPeakRSS("--only-show-errors")
	started := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("aws s3 cp %s %s: %v\n%s", src, dst, err, out)
	}
	took := time.Since(started)
	peak, _ := rss.stop()
	return took, peak
}

// loadRDBs puts each of n downloaded files dir/shard-<i>.rdb in a folder of its own as
// dump.rdb, starts a redis-server there for each, and returns the time until every one has
// loaded its file and they hold keys keys between them.
func loadRDBs(b *testing.B, dir string, n int, keys int64) time.Duration {
	b.Helper()
	started := time.Now()
	var servers []*redistest.Server
	for i := range n {
		node := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		if err := os.Mkdir(node, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, fmt.Sprintf("shard-%d.rdb", i)), filepath.Join(node, "dump.rdb")); err != nil {
			b.Fatal(err)
		}
		// A server listens before it loads: the next starts while this one loads.
		servers = append(servers, redistest.StartServers(b, 1, redistest.Options{Dir: node})...)
	}
	for _, s := range servers {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, DisableIdentity: true})
		framework.WaitFor(b, benchStepTimeout, s.Addr+" to load its file", func() (bool, error) {
			err := c.Ping(context.Background()).Err()
			return err == nil, err
		})
		_ = c.Close()
	}
	took := time.Since(started)
	if got := countKeys(b, redistest.Addrs(servers)); got != keys {
		b.Fatalf("the servers loaded %d keys, %d were written", got, keys)
	}
	return took
}

func redisCLIVersion() string {
	out, _ := exec.Command("redis-cli", "--version").Output()
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "redis-cli ")
}
