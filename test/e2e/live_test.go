package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// configOf reads directive from the node at addr, authenticating with password.
func configOf(ctx context.Context, addr, password, directive string) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	values, err := c.ConfigGet(ctx, directive).Result()
	return values[directive], err
}

func patchCluster(t *testing.T, ns, name, patch string) {
	t.Helper()
	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

func TestLiveSettingsReachEveryNodeWithoutANewPod(t *testing.T) {
	rc := f.ReadyCluster(t, "tuned")
	ns := rc.Namespace
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "kept", 5000)
	uids := podUIDs(t, ns, "tuned")
	w := framework.StartWriters(client, 8, 1000000)

	start := time.Now()
	patchCluster(t, ns, "tuned", `{"spec":{"maxMemory":"200mb","config":{"maxmemory-policy":"allkeys-lru","hz":"20"}}}`)
	ctx := context.Background()
	framework.WaitFor(t, 30*time.Second, "every node to run the new settings", func() (bool, error) {
		for _, addr := range framework.NodeAddrs(rc) {
			for directive, want := range map[string]string{"maxmemory": "209715200", "maxmemory-policy": "allkeys-lru", "hz": "20"} {
				if got, err := configOf(ctx, addr, "", directive); err != nil || got != want {
					return false, err
				}
			}
		}
		return true, nil
	})
	t.Logf("settings live on every node %.1fs after the change", time.Since(start).Seconds())

	// Redis refuses an unknown directive: the cluster says so and nothing changes.
	patchCluster(t, ns, "tuned", `{"spec":{"config":{"maxmemory-policy":"allkeys-lru","hz":"20","no-such-directive":"1"}}}`)
	framework.WaitFor(t, 30*time.Second, "the refusal to show", func() (bool, error) {
		cond := meta.FindStatusCondition(f.Cluster(t, ns, "tuned").Status.Conditions, redisv1beta1.ConditionReady)
		return cond != nil && cond.Reason == "ConfigRefused", nil
	})
	cond := meta.FindStatusCondition(f.Cluster(t, ns, "tuned").Status.Conditions, redisv1beta1.ConditionReady)
	require.Contains(t, cond.Message, "no-such-directive")
	secret, err := f.Kube.CoreV1().Secrets(ns).Get(ctx, "tuned-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotContains(t, string(secret.Data["redis.conf"]), "no-such-directive", "a node restarting now must still start")
	patchCluster(t, ns, "tuned", `{"spec":{"config":{"maxmemory-policy":"allkeys-lru","hz":"20","no-such-directive":null}}}`)
	rc = f.WaitReady(t, ns, "tuned", time.Minute)
	w.Halt()

	// A node restarted in place keeps the settings: they are in the file it includes.
	killed := framework.NodeAddrs(rc)[0]
	node := redis.NewClient(&redis.Options{Addr: killed, MaxRetries: -1})
	defer node.Close()
	runID := func() string {
		info, _ := node.Info(ctx, "server").Result()
		_, after, _ := strings.Cut(info, "run_id:")
		id, _, _ := strings.Cut(after, "\r\n")
		return id
	}
	before := runID()
	require.NotEmpty(t, before)
	// Once: a retry would shut the restarted node down again.
	_ = node.Do(ctx, "SHUTDOWN", "NOSAVE").Err() // the node hangs up
	framework.WaitFor(t, time.Minute, "the restarted node to answer with the settings", func() (bool, error) {
		if id := runID(); id == "" || id == before {
			return false, nil // not restarted yet
		}
		got, err := configOf(ctx, killed, "", "maxmemory-policy")
		return err == nil && got == "allkeys-lru", nil
	})
	rc = f.WaitReady(t, ns, "tuned", 2*time.Minute)
	require.Equal(t, uids, podUIDs(t, ns, "tuned"), "no pod was replaced")
	f.CheckInvariants(t, rc)
	client = framework.ClusterClient(t, rc)
	framework.CheckKeys(t, client, "kept", 5000)
	w.CheckAcked(t, client)
}

// setSecret writes the password Secret's value.
func setSecret(t *testing.T, ns, value string) {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: ns}, Data: map[string][]byte{"password": []byte(value)}}
	if _, err := f.Kube.CoreV1().Secrets(ns).Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		_, err = f.Kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// requirePassword waits until every node of rc takes password and refuses refused.
func requirePassword(t *testing.T, rc *redisv1beta1.RedisCluster, password, refused string) {
	t.Helper()
	ctx := context.Background()
	framework.WaitFor(t, time.Minute, "every node to take the current password only", func() (bool, error) {
		for _, addr := range framework.NodeAddrs(rc) {
			if _, err := configOf(ctx, addr, password, "maxmemory"); err != nil {
				return false, nil
			}
			if _, err := configOf(ctx, addr, refused, "maxmemory"); err == nil && refused != password {
				if password == "" {
					continue // a node without a password takes any
				}
				return false, nil
			}
		}
		return true, nil
	})
}

func TestPasswordAddedRotatedAndRemovedLive(t *testing.T) {
	rc := f.ReadyCluster(t, "guarded")
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 5000)
	before := podUIDs(t, ns, "guarded")

	step := func(what, password, refused string) {
		start := time.Now()
		cur := f.WaitReady(t, ns, "guarded", 2*time.Minute)
		requirePassword(t, cur, password, refused)
		framework.WaitFor(t, time.Minute, "the change to finish", func() (bool, error) {
			return podsRecording(ns, "guarded", authVersion(t, ns, "guarded"))
		})
		cur = f.WaitReady(t, ns, "guarded", 2*time.Minute)
		require.Equal(t, before, podUIDs(t, ns, "guarded"), "no pod restarted")
		// The exporters keep scraping: the old password is gone from every node by now.
		framework.WaitFor(t, 30*time.Second, "every exporter to reach its node", func() (bool, error) {
			err := framework.ExportersScrape(context.Background(), cur)
			return err == nil, err
		})
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: framework.NodeAddrs(cur), Password: password, Protocol: 2, DisableIdentity: true})
		defer c.Close()
		framework.CheckKeys(t, c, "kept", 5000)
		t.Logf("%s: live on every node, Ready, in %.1fs", what, time.Since(start).Seconds())
	}

	setSecret(t, ns, "first-secret")
	patchCluster(t, ns, "guarded", `{"spec":{"passwordSecret":{"name":"auth","key":"password"}}}`)
	step("password added", "first-secret", "")
	setSecret(t, ns, "second-secret")
	step("password rotated", "second-secret", "first-secret")
	patchCluster(t, ns, "guarded", `{"spec":{"passwordSecret":null}}`)
	step("password removed", "", "second-secret")
}
