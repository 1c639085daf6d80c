package framework

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/invariants"
)

// NewCluster is a RedisCluster like the seed manifest, on basePort.
func NewCluster(namespace, name string, basePort int32) *redisv1beta1.RedisCluster {
	return &redisv1beta1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: redisv1beta1.RedisClusterSpec{
			Image: "awbrg789/redis:latest", Masters: 3, Replicas: 1, BasePort: basePort, MaxMemory: "512mb",
		},
	}
}

// SeedNamespace and SeedCluster are where examples/rediscluster.yaml, a manifest written for the
// original operator, puts its cluster.
const SeedNamespace, SeedCluster = "cache", "rediscluster1"

// ApplySeed applies examples/rediscluster.yaml unchanged, with kubectl as a user would. The seed
// always lands in namespace cache on ports 10000 and up, so tests take turns: ApplySeed waits
// for a namespace cache still being deleted, and the cleanup deletes it and waits until it is gone.
func (f *Framework) ApplySeed(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if ns, err := f.Kube.CoreV1().Namespaces().Get(ctx, SeedNamespace, metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
		t.Fatalf("namespace %s exists and is not being deleted; the seed needs it fresh", SeedNamespace)
	}
	f.waitNamespaceGone(t, SeedNamespace)
	t.Cleanup(func() { f.DeleteNamespace(t, SeedNamespace) })
	if out, err := f.Kubectl(ctx, "apply", "-f", "examples/rediscluster.yaml"); err != nil {
		t.Fatalf("kubectl apply -f examples/rediscluster.yaml: %v\n%s", err, out)
	}
}

// DeleteNamespace deletes a namespace and waits until it is gone, so its Redis processes have
// stopped and its names and ports are free for the next test.
func (f *Framework) DeleteNamespace(t testing.TB, name string) {
	t.Helper()
	err := f.Kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Fatalf("deleting namespace %s: %v", name, err)
	}
	f.waitNamespaceGone(t, name)
}

func (f *Framework) waitNamespaceGone(t testing.TB, name string) {
	t.Helper()
	WaitFor(t, 2*time.Minute, "namespace "+name+" to be gone", func() (bool, error) {
		_, err := f.Kube.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// CreateCluster creates rc.
func (f *Framework) CreateCluster(t testing.TB, rc *redisv1beta1.RedisCluster) {
	t.Helper()
	if _, err := f.Redis.RedisV1beta1().RedisClusters(rc.Namespace).Create(context.Background(), rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Cluster reads a RedisCluster.
func (f *Framework) Cluster(t testing.TB, namespace, name string) *redisv1beta1.RedisCluster {
	t.Helper()
	rc, err := f.Redis.RedisV1beta1().RedisClusters(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// WaitReady waits until the cluster's status describes its latest generation with Ready=True,
// and returns it.
func (f *Framework) WaitReady(t testing.TB, namespace, name string, timeout time.Duration) *redisv1beta1.RedisCluster {
	t.Helper()
	var rc *redisv1beta1.RedisCluster
	err := Poll(timeout, fmt.Sprintf("RedisCluster %s/%s Ready", namespace, name), func() (bool, error) {
		var err error
		rc, err = f.Redis.RedisV1beta1().RedisClusters(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady)
		if ready == nil {
			return false, nil
		}
		return rc.Status.ObservedGeneration == rc.Generation && ready.Status == metav1.ConditionTrue,
			fmt.Errorf("%s: %s", ready.Reason, ready.Message)
	})
	if err != nil {
		if rc != nil {
			logClusterNodes(t, rc)
		}
		t.Fatal(err)
	}
	return rc
}

// WaitWhole waits until every wanted node of the cluster has a running pod, the status says Ready
// and every cluster invariant holds: after pods were deleted or evicted, a status still Ready
// from before says nothing yet.
func (f *Framework) WaitWhole(t testing.TB, namespace, name string, timeout time.Duration) *redisv1beta1.RedisCluster {
	t.Helper()
	var rc *redisv1beta1.RedisCluster
	WaitFor(t, timeout, fmt.Sprintf("RedisCluster %s/%s whole again", namespace, name), func() (bool, error) {
		var err error
		rc, err = f.Redis.RedisV1beta1().RedisClusters(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := f.Kube.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == rc.Spec.NodeCount() && rc.Status.ObservedGeneration == rc.Generation &&
			meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionReady) && f.InvariantsHold(rc), nil
	})
	return rc
}

// logClusterNodes logs what every node says in CLUSTER NODES, to see why a cluster stays unready.
func logClusterNodes(t testing.TB, rc *redisv1beta1.RedisCluster) {
	t.Helper()
	for _, addr := range NodeAddrs(rc) {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, TLSConfig: TLSConfig(rc)})
		out, err := c.ClusterNodes(context.Background()).Result()
		_ = c.Close()
		t.Logf("CLUSTER NODES on %s (err %v):\n%s", addr, err, out)
	}
}

// NodeAddrs are the ip:port of every node the cluster's status lists.
func NodeAddrs(rc *redisv1beta1.RedisCluster) []string {
	var out []string
	for _, n := range rc.Status.Nodes {
		if n.IP != "" {
			out = append(out, net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port))))
		}
	}
	return out
}

// gossipSettles is how long the nodes may take to agree after the last change: a failover or a
// slot's new owner reaches every node by gossip, not at once.
const gossipSettles = 10 * time.Second

// CheckInvariants fails the test unless every cluster invariant holds for rc's spec within
// gossipSettles, with the violations last seen.
func (f *Framework) CheckInvariants(t testing.TB, rc *redisv1beta1.RedisCluster) {
	t.Helper()
	f.CheckInvariantsWithPassword(t, rc, "")
}

// CheckInvariantsWithPassword is CheckInvariants on nodes that take password.
func (f *Framework) CheckInvariantsWithPassword(t testing.TB, rc *redisv1beta1.RedisCluster, password string) {
	t.Helper()
	admin := AdminOf(rc, password)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := invariants.Expect{Masters: int(rc.Spec.Masters), ReplicasPerMaster: int(rc.Spec.Replicas), Password: password,
		TLS: TLSFiles(rc)}
	WaitFor(t, gossipSettles, "every cluster invariant to hold", func() (bool, error) {
		err := invariants.Check(ctx, admin, NodeAddrs(rc), want)
		return err == nil, err
	})
}

// CheckReplicasListed fails the test unless every node of rc lists every replica with its
// master right now, without waiting for gossip: call it as soon as the cluster is Ready.
func (f *Framework) CheckReplicasListed(t testing.TB, rc *redisv1beta1.RedisCluster) {
	t.Helper()
	admin := AdminOf(rc, "")
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := invariants.ReplicasListed(ctx, admin, NodeAddrs(rc)); err != nil {
		t.Fatalf("Ready, yet %v", err)
	}
}

// InvariantsHold reports whether every cluster invariant holds for rc's spec right now.
func (f *Framework) InvariantsHold(rc *redisv1beta1.RedisCluster) bool {
	admin := AdminOf(rc, "")
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := invariants.Expect{Masters: int(rc.Spec.Masters), ReplicasPerMaster: int(rc.Spec.Replicas), TLS: TLSFiles(rc)}
	return invariants.Check(ctx, admin, NodeAddrs(rc), want) == nil
}

// ClusterClient is a cluster-aware client of rc's nodes; the test's cleanup closes it.
func ClusterClient(t testing.TB, rc *redisv1beta1.RedisCluster) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: NodeAddrs(rc), Protocol: 2, DisableIdentity: true,
		MaxRedirects: 16, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, TLSConfig: TLSConfig(rc),
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// WriteKeys writes keys prefix:0 .. prefix:n-1 with their index as value, pipelined.
func WriteKeys(t testing.TB, c *redis.ClusterClient, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for start := 0; start < n; start += 1000 {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+1000, n); i++ {
				p.Set(ctx, prefix+":"+strconv.Itoa(i), i, 0)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("writing keys: %v", err)
		}
	}
}

// CheckKeys fails t unless keys prefix:0 to prefix:n-1 all read back with their index as value.
func CheckKeys(t testing.TB, c *redis.ClusterClient, prefix string, n int) {
	t.Helper()
	if missing := MissingKeys(t, c, prefix, n); len(missing) > 0 {
		t.Fatalf("%d of %d keys are missing or wrong, the first %s:%d", len(missing), n, prefix, missing[0])
	}
}

// MissingKeys returns the indexes i below n whose key prefix:i does not read back as i.
func MissingKeys(t testing.TB, c *redis.ClusterClient, prefix string, n int) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var missing []int
	for start := 0; start < n; start += 1000 {
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+1000, n); i++ {
				p.Get(ctx, prefix+":"+strconv.Itoa(i))
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			t.Fatalf("reading keys: %v", err)
		}
		for j, cmd := range cmds {
			if v, err := cmd.(*redis.StringCmd).Result(); err != nil || v != strconv.Itoa(start+j) {
				missing = append(missing, start+j)
			}
		}
	}
	return missing
}

// PromoteReplica makes the replica at addr master with a graceful CLUSTER FAILOVER, as an
// operator of the cluster would by hand. A manual failover gives up after 5 s when the replica
// cannot catch up in time (a busy machine), so it is asked again until the roles have switched.
func PromoteReplica(t testing.TB, addr string) {
	t.Helper()
	node := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var asked time.Time
	WaitFor(t, time.Minute, addr+" to be master", func() (bool, error) {
		role, err := node.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "master" {
			return true, nil
		}
		if time.Since(asked) > 6*time.Second {
			asked = time.Now()
			if err := node.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
				return false, err
			}
		}
		return false, nil
	})
}
