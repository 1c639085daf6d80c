package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// annotationAuth is the pod annotation recording the password change its node took, with
// addedSuffix while the node still takes the former password too.
const (
	annotationAuth = "redis.redis/auth-version"
	addedSuffix    = ":added"
)

// authVersion is the password change the cluster's config Secret is at.
func authVersion(t *testing.T, ns, name string) string {
	t.Helper()
	secret, err := f.Kube.CoreV1().Secrets(ns).Get(context.Background(), name+"-config", metav1.GetOptions{})
	require.NoError(t, err)
	return string(secret.Data["auth-version"])
}

// podsRecording reports whether every pod of the cluster but those named in except records
// version as its auth annotation.
func podsRecording(ns, name, version string, except ...string) (bool, error) {
	pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
	if err != nil {
		return false, err
	}
	for _, p := range pods.Items {
		if got := p.Annotations[annotationAuth]; got != version && !contains(except, p.Name) {
			return false, fmt.Errorf("pod %s records %q, not %q", p.Name, got, version)
		}
	}
	return true, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nodesTaking reports whether every node at addrs takes password and refuses each of refused.
func nodesTaking(addrs []string, password string, refused ...string) (bool, error) {
	ctx := context.Background()
	for _, addr := range addrs {
		if _, err := configOf(ctx, addr, password, "maxmemory"); err != nil {
			return false, fmt.Errorf("%s refuses %q: %w", addr, password, err)
		}
		for _, r := range refused {
			if _, err := configOf(ctx, addr, r, "maxmemory"); err == nil {
				return false, fmt.Errorf("%s still takes %q", addr, r)
			}
		}
	}
	return true, nil
}

// waitPasswordChanged waits until every node of the cluster takes password only, refusing
// refused, and every pod records the config Secret's change as done.
func waitPasswordChanged(t *testing.T, rc *redisv1beta1.RedisCluster, timeout time.Duration, password string, refused ...string) {
	t.Helper()
	framework.WaitFor(t, timeout, "every node to take "+password+" only and the change to finish", func() (bool, error) {
		if ok, err := nodesTaking(framework.NodeAddrs(rc), password, refused...); !ok {
			return false, err
		}
		return podsRecording(rc.Namespace, rc.Name, authVersion(t, rc.Namespace, rc.Name))
	})
}

// guardedCluster is a Ready cluster name with 2000 keys kept:N, whose nodes take password, from
// the Secret auth, only.
func guardedCluster(t *testing.T, name, password string) *redisv1beta1.RedisCluster {
	t.Helper()
	rc := f.ReadyCluster(t, name)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 2000)
	setSecret(t, rc.Namespace, password)
	patchCluster(t, rc.Namespace, name, `{"spec":{"passwordSecret":{"name":"auth","key":"password"}}}`)
	waitPasswordChanged(t, rc, time.Minute, password, "")
	return f.WaitReady(t, rc.Namespace, name, 2*time.Minute)
}

// nodeOfRole is the first node of rc in role, skipping the pods named in except.
func nodeOfRole(rc *redisv1beta1.RedisCluster, role string, except ...string) redisv1beta1.NodeStatus {
	for _, n := range rc.Status.Nodes {
		if n.Role == role && !contains(except, n.Pod) {
			return n
		}
	}
	return redisv1beta1.NodeStatus{}
}

func nodeAddr(n redisv1beta1.NodeStatus) string { return fmt.Sprintf("%s:%d", n.IP, n.Port) }

// passwordClient is a cluster client of rc's nodes that logs in with password.
func passwordClient(t *testing.T, rc *redisv1beta1.RedisCluster, password string) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: framework.NodeAddrs(rc), Password: password, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A replica that misses a password change must not be locked out by the next
// one. It is stopped while the password goes first -> second -> third; once it resumes, every
// node ends up taking third only.
func TestPasswordChangedTwiceWhileAReplicaIsStopped(t *testing.T) {
	rc := guardedCluster(t, "twice", "first-secret")
	ns := rc.Namespace

	stopped := nodeOfRole(rc, redisv1beta1.RoleReplica)
	require.NotEmpty(t, stopped.Pod)
	var others []string
	for _, addr := range framework.NodeAddrs(rc) {
		if addr != nodeAddr(stopped) {
			others = append(others, addr)
		}
	}
	resume := framework.StopNode(t, nodeAddr(stopped))
	start := time.Now()
	setSecret(t, ns, "second-secret")
	framework.WaitFor(t, time.Minute, "every answering node to take the second password", func() (bool, error) {
		return nodesTaking(others, "second-secret")
	})
	t.Logf("every answering node took the second password %.1fs after the stop", time.Since(start).Seconds())
	setSecret(t, ns, "third-secret")
	framework.WaitFor(t, time.Minute, "every answering node to take the third password", func() (bool, error) {
		return nodesTaking(others, "third-secret")
	})
	resume()
	t.Logf("%s stopped for %.1fs while the password changed twice", stopped.Pod, time.Since(start).Seconds())

	start = time.Now()
	waitPasswordChanged(t, rc, 2*time.Minute, "third-secret", "first-secret", "second-secret")
	t.Logf("every node took the third password only %.1fs after the replica resumed", time.Since(start).Seconds())
	rc = f.WaitReady(t, ns, "twice", 2*time.Minute)
	f.CheckInvariantsWithPassword(t, rc, "third-secret")
	framework.CheckKeys(t, passwordClient(t, rc, "third-secret"), "kept", 2000)
}

// nodeClient is a client of the node at addr logging in as the default user with password,
// which a node without a password takes too (a bare AUTH password it refuses).
func nodeClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Username: "default", Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
}

// masterLinkUp reports whether the replica at addr has its replication link up.
func masterLinkUp(ctx context.Context, addr, password string) (bool, error) {
	c := nodeClient(addr, password)
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return false, err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return false, fmt.Errorf("%s: link down", addr)
	}
	return true, nil
}

// syncsServed is how many replication handshakes the master at addr completed, full or partial:
// each needs the replica logged in.
func syncsServed(ctx context.Context, addr, password string) (int, error) {
	c := nodeClient(addr, password)
	defer c.Close()
	info, err := c.Info(ctx, "stats").Result()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, line := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "sync_full" || k == "sync_partial_ok") {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, err
			}
			total += n
		}
	}
	return total, nil
}

// While the password is being removed, a replica whose replication link
// drops links again: masters stop requiring the password before replicas stop sending it. A
// stopped replica holds the change halfway.
func TestReplicaRelinksWhileThePasswordIsRemoved(t *testing.T) {
	rc := guardedCluster(t, "unguarded", "only-secret")
	ns := rc.Namespace

	relinked := nodeOfRole(rc, redisv1beta1.RoleReplica)
	stopped := nodeOfRole(rc, redisv1beta1.RoleReplica, relinked.Pod)
	require.NotEmpty(t, stopped.Pod)
	resume := framework.StopNode(t, nodeAddr(stopped))
	patchCluster(t, ns, "unguarded", `{"spec":{"passwordSecret":null}}`)
	framework.WaitFor(t, time.Minute, "every answering node to take the first step of the removal", func() (bool, error) {
		return podsRecording(ns, "unguarded", authVersion(t, ns, "unguarded")+addedSuffix, stopped.Pod)
	})

	ctx := context.Background()
	var master redisv1beta1.NodeStatus
	for _, n := range rc.Status.Nodes {
		if n.NodeID == relinked.MasterNodeID {
			master = n
		}
	}
	served, err := syncsServed(ctx, nodeAddr(master), "only-secret")
	require.NoError(t, err)
	node := nodeClient(nodeAddr(relinked), "only-secret")
	defer node.Close()
	killed, err := node.Do(ctx, "CLIENT", "KILL", "TYPE", "master").Int()
	require.NoError(t, err)
	require.Equal(t, 1, killed, "the replica's link to its master")
	cut := time.Now()
	framework.WaitFor(t, 30*time.Second, "the replica's link to come back mid-change", func() (bool, error) {
		if now, err := syncsServed(ctx, nodeAddr(master), "only-secret"); err != nil || now == served {
			return false, errors.Join(err, fmt.Errorf("%s completed no replication handshake since the cut", master.Pod))
		}
		return masterLinkUp(ctx, nodeAddr(relinked), "only-secret")
	})
	t.Logf("%s linked again %.1fs after its link was cut mid-change", relinked.Pod, time.Since(cut).Seconds())

	resume()
	waitPasswordChanged(t, rc, 2*time.Minute, "")
	rc = f.WaitReady(t, ns, "unguarded", 2*time.Minute)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 2000)
}

// Right after a change, a master's container restarts on the
// config file from before it (the kubelet refreshes a mounted Secret up to a minute late), so the
// node takes the former password only while its pod records the change. Simulated on the running
// node: its password is set back and its clients cut. It must take the new password again.
func TestNodeBackOnAnOlderPasswordTakesTheNewOne(t *testing.T) {
	rc := guardedCluster(t, "drifted", "first-secret")
	ns := rc.Namespace
	ctx := context.Background()
	setSecret(t, ns, "second-secret")
	waitPasswordChanged(t, rc, time.Minute, "second-secret", "first-secret")
	rc = f.WaitReady(t, ns, "drifted", 2*time.Minute)

	drifted := nodeOfRole(rc, redisv1beta1.RoleMaster)
	c := nodeClient(nodeAddr(drifted), "second-secret")
	require.NoError(t, c.Do(ctx, "ACL", "SETUSER", "default", "resetpass", ">first-secret").Err())
	require.NoError(t, c.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err())
	require.NoError(t, c.Close())
	start := time.Now()
	waitPasswordChanged(t, rc, time.Minute, "second-secret", "first-secret")
	t.Logf("%s took the new password again %.1fs after it was set back", drifted.Pod, time.Since(start).Seconds())
	rc = f.WaitReady(t, ns, "drifted", 2*time.Minute)
	f.CheckInvariantsWithPassword(t, rc, "second-secret")
	framework.CheckKeys(t, passwordClient(t, rc, "second-secret"), "kept", 2000)
}
