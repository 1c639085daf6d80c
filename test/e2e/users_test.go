package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// putSecret creates or updates the Secret name holding password under "password".
func putSecret(t *testing.T, ns, name, password string) {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"password": []byte(password)}}
	if _, err := f.Kube.CoreV1().Secrets(ns).Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		_, err = f.Kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// usersPatch is a merge patch setting the cluster's users, each name with rules and the Secret
// name-password.
func usersPatch(users map[string]string) string {
	var items []string
	for name, rules := range users {
		items = append(items, fmt.Sprintf(`{"name":%q,"rules":[%s],"passwordSecret":{"name":"%s-password","key":"password"}}`, name, rules, name))
	}
	return `{"spec":{"users":[` + strings.Join(items, ",") + `]}}`
}

// authAs logs in as user with password on a new connection to addr.
func authAs(ctx context.Context, addr, user, password string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	return c.Ping(ctx).Err()
}

// dryRun is what the node at addr answers ACL DRYRUN user args: "OK" when the user may run them.
func dryRun(ctx context.Context, addr, user string, args ...interface{}) string {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	out, err := c.Do(ctx, append([]interface{}{"ACL", "DRYRUN", user}, args...)...).Text()
	if err != nil {
		return err.Error()
	}
	return out
}

// waitEveryNode waits until check passes on every node of rc.
func waitEveryNode(t *testing.T, rc *redisv1beta1.RedisCluster, what string, check func(ctx context.Context, addr string) error) time.Duration {
	t.Helper()
	start := time.Now()
	framework.WaitFor(t, time.Minute, what, func() (bool, error) {
		for _, addr := range framework.NodeAddrs(rc) {
			if err := check(context.Background(), addr); err != nil {
				return false, fmt.Errorf("%s: %w", addr, err)
			}
		}
		return true, nil
	})
	return time.Since(start)
}

// An ACL user is added, its password rotated, its rules narrowed, kept through a node's
// restart, then removed, each live on every node, while a client logged in as another user on
// every node keeps its connection throughout. A user whose Secret goes away stays as it was,
// and Degraded says why.
func TestACLUsersChangeLiveOnEveryNode(t *testing.T) {
	rc := f.ReadyCluster(t, "acl")
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 2000)
	putSecret(t, ns, "other-password", "other-pw")
	wide, narrow := `"~app:*","+@all"`, `"~app:*","+@read","+@connection"`
	patchCluster(t, ns, "acl", usersPatch(map[string]string{"other": `"~*","+@all"`}))
	waitEveryNode(t, rc, "every node to take user other", func(ctx context.Context, addr string) error {
		return authAs(ctx, addr, "other", "other-pw")
	})
	type session struct {
		conn *redis.Conn
		id   int64
	}
	sessions := map[string]session{}
	for _, addr := range framework.NodeAddrs(rc) {
		client := redis.NewClient(&redis.Options{Addr: addr, Username: "other", Password: "other-pw", Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1})
		t.Cleanup(func() { _ = client.Close() })
		conn := client.Conn()
		id, err := conn.ClientID(context.Background()).Result()
		require.NoError(t, err)
		sessions[addr] = session{conn, id}
	}

	putSecret(t, ns, "app-password", "first")
	patchCluster(t, ns, "acl", usersPatch(map[string]string{"other": `"~*","+@all"`, "app": wide}))
	took := waitEveryNode(t, rc, "every node to take user app", func(ctx context.Context, addr string) error {
		if got := dryRun(ctx, addr, "app", "SET", "app:k", "v"); got != "OK" {
			return fmt.Errorf("app may not write: %s", got)
		}
		return authAs(ctx, addr, "app", "first")
	})
	t.Logf("user added on every node %.2fs after the change", took.Seconds())

	putSecret(t, ns, "app-password", "second")
	took = waitEveryNode(t, rc, "every node to take app's new password only", func(ctx context.Context, addr string) error {
		if err := authAs(ctx, addr, "app", "first"); err == nil {
			return fmt.Errorf("still takes the old password")
		}
		return authAs(ctx, addr, "app", "second")
	})
	t.Logf("password rotated on every node %.2fs after the Secret changed", took.Seconds())

	patchCluster(t, ns, "acl", usersPatch(map[string]string{"other": `"~*","+@all"`, "app": narrow}))
	narrowed := func(ctx context.Context, addr string) error {
		if got := dryRun(ctx, addr, "app", "SET", "app:k", "v"); !strings.Contains(got, "no permissions") {
			return fmt.Errorf("app may still write: %s", got)
		}
		if got := dryRun(ctx, addr, "app", "GET", "app:k"); got != "OK" {
			return fmt.Errorf("app may not read: %s", got)
		}
		return authAs(ctx, addr, "app", "second")
	}
	took = waitEveryNode(t, rc, "every node to narrow app's rules", narrowed)
	t.Logf("rules narrowed on every node %.2fs after the change", took.Seconds())

	// A node restarted: its new pod starts from the config file with the users as they are.
	replica := nodeOfRole(f.Cluster(t, ns, "acl"), "replica")
	deletePod(t, ns, replica.Pod)
	framework.WaitFor(t, 2*time.Minute, "the replica's node back", func() (bool, error) {
		return authAs(context.Background(), nodeAddr(replica), "app", "second") == nil, nil
	})
	require.NoError(t, narrowed(context.Background(), nodeAddr(replica)), "the restarted node")
	rc = f.WaitReady(t, ns, "acl", 2*time.Minute)
	delete(sessions, nodeAddr(replica))

	// The Secret of other deleted: other stays as the nodes have it; Degraded says why.
	require.NoError(t, f.Kube.CoreV1().Secrets(ns).Delete(context.Background(), "other-password", metav1.DeleteOptions{}))
	framework.WaitFor(t, time.Minute, "Degraded to name the missing Secret", func() (bool, error) {
		c := meta.FindStatusCondition(f.Cluster(t, ns, "acl").Status.Conditions, redisv1beta1.ConditionDegraded)
		return c != nil && c.Reason == "UserSecretHeld" && strings.Contains(c.Message, "user other"), nil
	})

	patchCluster(t, ns, "acl", usersPatch(map[string]string{"other": `"~*","+@all"`}))
	took = waitEveryNode(t, rc, "every node to remove app", func(ctx context.Context, addr string) error {
		if err := authAs(ctx, addr, "app", "second"); err == nil {
			return fmt.Errorf("app still logs in")
		}
		return authAs(ctx, addr, "other", "other-pw")
	})
	t.Logf("user removed on every node %.2fs after the change", took.Seconds())

	putSecret(t, ns, "other-password", "other-pw")
	framework.WaitFor(t, time.Minute, "Degraded to clear", func() (bool, error) {
		c := meta.FindStatusCondition(f.Cluster(t, ns, "acl").Status.Conditions, redisv1beta1.ConditionDegraded)
		return c != nil && c.Reason != "UserSecretHeld", nil
	})
	// A rule Redis does not know: refused on the one node it is tried on, the config file and
	// every node keep the rules before.
	patchCluster(t, ns, "acl", usersPatch(map[string]string{"other": `"~*","+@all","+nosuchcommand"`}))
	framework.WaitFor(t, time.Minute, "Ready to say the rules are refused", func() (bool, error) {
		c := meta.FindStatusCondition(f.Cluster(t, ns, "acl").Status.Conditions, redisv1beta1.ConditionReady)
		return c != nil && c.Reason == "ConfigRefused" && strings.Contains(c.Message, "user other"), nil
	})
	config, err := f.Kube.CoreV1().Secrets(ns).Get(context.Background(), "acl-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotContains(t, string(config.Data["redis.conf"]), "nosuchcommand")
	waitEveryNode(t, rc, "every node to keep other as it was", func(ctx context.Context, addr string) error {
		return authAs(ctx, addr, "other", "other-pw")
	})
	patchCluster(t, ns, "acl", usersPatch(map[string]string{"other": `"~*","+@all"`}))

	for addr, s := range sessions {
		id, err := s.conn.ClientID(context.Background()).Result()
		require.NoError(t, err, "other's client on %s", addr)
		require.Equal(t, s.id, id, "other's client on %s kept its connection", addr)
	}
	f.WaitReady(t, ns, "acl", time.Minute)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 2000)
	f.CheckInvariants(t, rc)
}
