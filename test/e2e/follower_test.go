package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// The chart runs two operator pods behind one Service, and only the leader reconciles. An alert
// may reach either pod: each refuses, with 409 and the same reason, a scale-in whose remaining
// masters could not hold the keys and a scale-out onto another cluster's ports, and the cluster
// keeps its masters and every key.
func TestEveryOperatorPodRefusesAScaleThatDoesNotFit(t *testing.T) {
	readImageArchive(t, filepath.Join(f.Root, imageArchive))
	uninstall(t, true)
	f.DeleteNamespace(t, chartNamespace)
	t.Cleanup(func() {
		if t.Failed() {
			logInstall(t)
		}
		uninstall(t, true)
		f.DeleteNamespace(t, chartNamespace)
	})
	out, err := f.Helm(t, "install", chartRelease, "charts/redis-operator", "--namespace", chartNamespace,
		"--create-namespace", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	pods := waitOperatorPods(t, 2, nil)
	leader := leaderPod(t, pods)
	follower := pods[0]
	if follower.Name == leader.Name {
		follower = pods[1]
	}
	t.Logf("%s leads, %s follows", leader.Name, follower.Name)
	atPod := func(p corev1.Pod) *framework.Operator {
		return &framework.Operator{HTTPAddr: net.JoinHostPort(p.Status.PodIP, "9090")}
	}

	// 4 masters at 75% of maxmemory: three would be over 90%. The neighbour starts on the
	// ports of the tight cluster's node 4.
	tight := f.ReadyCluster(t, "tight", framework.RunBy(atPod(leader)), framework.Shape(4, 0),
		framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) { s.MaxMemory = "16mb" }))
	neighbour := f.ReadyCluster(t, "neighbour", framework.RunBy(atPod(leader)), framework.Shape(3, 0),
		framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) { s.BasePort = tight.Spec.BasePort + 4 }))
	client := framework.ClusterClient(t, tight)
	value := strings.Repeat("v", 4000)
	keys := make([]string, 12000)
	for i := range keys {
		keys[i] = "tight:" + strconv.Itoa(i)
	}
	setValues(t, client, keys, value)

	token := webhookToken(t, chartDeployment(t))
	refusals := []struct{ alert, reason string }{
		{"LowMemoryUsage", "does not fit in memory"},
		{"HighMemoryUsage", "is held by RedisCluster " + neighbour.Namespace + "/neighbour"},
	}
	answers := map[string]string{}
	for _, pod := range []corev1.Pod{follower, leader} {
		for _, r := range refusals {
			alert := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing",`+
				`"labels":{"alertname":%q,"redis_cluster":"tight","namespace":%q},"annotations":{"scale_count":"1"}}]}`,
				r.alert, tight.Namespace)
			code, _, raw := apiCall(t, atPod(pod), http.MethodPost, "/webhooks/alertmanager", alert, bearer(token))
			t.Logf("%s at %s: %d %s", r.alert, pod.Name, code, raw)
			require.Equal(t, http.StatusConflict, code, "%s at %s: %s", r.alert, pod.Name, raw)
			require.Contains(t, string(raw), r.reason, "%s at %s", r.alert, pod.Name)
			if first, asked := answers[r.alert]; asked {
				require.Equal(t, first, string(raw), "%s: the leader answers as the follower", r.alert)
			}
			answers[r.alert] = string(raw)
		}
	}

	cur := f.Cluster(t, tight.Namespace, "tight")
	require.EqualValues(t, 4, cur.Spec.Masters, "no alert changed the cluster")
	require.Equal(t, tight.Generation, cur.Generation)
	f.CheckInvariants(t, cur)
	checkValues(t, client, keys, value)
}
