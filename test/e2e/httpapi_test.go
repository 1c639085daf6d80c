package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/httpapi"
	"redis-operator/test/e2e/framework"
)

// apiCall is one request to the operator's HTTP API and what it answered.
func apiCall(t *testing.T, op *framework.Operator, method, path, body string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+op.HTTPAddr+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, raw
}

// discoveredNodes is GET /cluster/nodes?query, which must answer 200.
func discoveredNodes(t *testing.T, op *framework.Operator, query string) []httpapi.NodeAddress {
	t.Helper()
	code, _, raw := apiCall(t, op, http.MethodGet, "/cluster/nodes?"+query, "", nil)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var nodes []httpapi.NodeAddress
	require.NoError(t, json.Unmarshal(raw, &nodes), "%s", raw)
	return nodes
}

// checkDiscovery waits until discovery lists exactly the nodes of rc's status, all ready (the
// operator's cache may trail the API server by a moment), and pings each at its address.
func checkDiscovery(t *testing.T, op *framework.Operator, rc *redisv1beta1.RedisCluster, query string) {
	t.Helper()
	want := map[string]bool{}
	for _, addr := range framework.NodeAddrs(rc) {
		want[addr] = true
	}
	require.Len(t, want, int(rc.Spec.Masters*(1+rc.Spec.Replicas)))
	var nodes []httpapi.NodeAddress
	framework.WaitFor(t, 10*time.Second, "discovery to list the status' nodes", func() (bool, error) {
		nodes = discoveredNodes(t, op, query)
		got := map[string]bool{}
		for _, n := range nodes {
			got[net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port)))] = n.Ready
		}
		for addr := range want {
			if !got[addr] {
				return false, fmt.Errorf("listed %+v", nodes)
			}
		}
		return len(got) == len(want) && len(nodes) == len(want), fmt.Errorf("listed %+v", nodes)
	})
	masters := 0
	for _, n := range nodes {
		require.Equal(t, "+PONG", ping(t, net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port)))), "node %+v", n)
		if n.Role == redisv1beta1.RoleMaster {
			masters++
			require.NotEmpty(t, n.Slots, "master %+v owns slots", n)
		}
	}
	require.EqualValues(t, rc.Spec.Masters, masters)
}

// bearer is the Authorization header carrying token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// writeToken writes a webhook token file for --webhook-token-file and Alertmanager.
func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhook-token")
	require.NoError(t, os.WriteFile(path, []byte(token+"\n"), 0o600))
	return path
}

// autoscaledEvents counts the Autoscaled Events of a cluster.
func autoscaledEvents(t *testing.T, ns, name string) int {
	t.Helper()
	events, err := f.Kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	n := 0
	for _, e := range events.Items {
		if e.Reason == httpapi.ReasonAutoscaled && e.InvolvedObject.Name == name {
			n++
		}
	}
	return n
}

func TestDiscoveryListsEveryNodeAndRefusesBadRequests(t *testing.T) {
	const token = "discovery-token"
	// A resync every second: the operator looks at the cluster again after the bad requests.
	op := f.StartOperator(t, "--webhook-token-file", writeToken(t, token), "--resync-period", "1s")
	rc := f.ReadyCluster(t, "discovered", framework.RunBy(op))
	ns := rc.Namespace

	// The original clients ask by name alone; the namespace narrows it.
	checkDiscovery(t, op, rc, "clusterName=discovered")
	checkDiscovery(t, op, rc, "clusterName=discovered&namespace="+ns)

	code, _, raw := apiCall(t, op, http.MethodGet, "/clusters", "", nil)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var clusters []httpapi.ClusterSummary
	require.NoError(t, json.Unmarshal(raw, &clusters))
	i := slices.IndexFunc(clusters, func(c httpapi.ClusterSummary) bool { return c.Namespace == ns && c.Name == "discovered" })
	require.GreaterOrEqual(t, i, 0, "GET /clusters lists the cluster: %s", raw)
	require.Equal(t, httpapi.ClusterSummary{Namespace: ns, Name: "discovered", Masters: 3, Replicas: 1, ReadyMasters: 3,
		ReadyReplicas: 3, Ready: true, Reason: clusters[i].Reason, Message: clusters[i].Message, Nodes: 6}, clusters[i])
	for _, path := range []string{"/healthz", "/readyz"} {
		code, _, raw := apiCall(t, op, http.MethodGet, path, "", nil)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, raw)
	}

	// Every bad request below would scale the cluster out if it were accepted.
	scaleOut := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing",
		"labels":{"alertname":"HighMemoryUsage","redis_cluster":"discovered","namespace":%q},
		"annotations":{"scale_count":"1"%%s}}]}`, ns)
	good := fmt.Sprintf(scaleOut, "")
	oversized := fmt.Sprintf(scaleOut, `,"padding":"`+strings.Repeat("x", 1<<20)+`"`)
	webhook := "/webhooks/alertmanager"
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		code                     int
	}{
		{"unknown cluster", http.MethodGet, "/cluster/nodes?clusterName=nosuch", "", nil, http.StatusNotFound},
		{"unknown in this namespace", http.MethodGet, "/cluster/nodes?clusterName=discovered&namespace=default", "", nil, http.StatusNotFound},
		{"no clusterName", http.MethodGet, "/cluster/nodes", "", nil, http.StatusBadRequest},
		{"clusterName not a name", http.MethodGet, "/cluster/nodes?clusterName=Not_A_Name", "", nil, http.StatusBadRequest},
		{"namespace not a name", http.MethodGet, "/cluster/nodes?clusterName=discovered&namespace=a.b", "", nil, http.StatusBadRequest},
		{"POST to discovery", http.MethodPost, "/cluster/nodes?clusterName=discovered", "", nil, http.StatusMethodNotAllowed},
		{"DELETE to clusters", http.MethodDelete, "/clusters", "", nil, http.StatusMethodNotAllowed},
		{"GET of the webhook", http.MethodGet, webhook, "", bearer(token), http.StatusMethodNotAllowed},
		{"webhook without a token", http.MethodPost, webhook, good, nil, http.StatusUnauthorized},
		{"webhook with a wrong token", http.MethodPost, webhook, good, bearer("wrong"), http.StatusUnauthorized},
		{"webhook token not as bearer", http.MethodPost, webhook, good, map[string]string{"Authorization": token}, http.StatusUnauthorized},
		{"webhook body over 1 MiB", http.MethodPost, webhook, oversized, bearer(token), http.StatusRequestEntityTooLarge},
		{"webhook body not JSON", http.MethodPost, webhook, "alertname=HighMemoryUsage", bearer(token), http.StatusBadRequest},
		{"webhook body not Alertmanager's", http.MethodPost, webhook, `{"masters":4}`, bearer(token), http.StatusBadRequest},
	}
	for _, c := range cases {
		code, header, raw := apiCall(t, op, c.method, c.path, c.body, c.header)
		require.Equal(t, c.code, code, "%s: %s", c.name, raw)
		require.Equal(t, "application/json", header.Get("Content-Type"), c.name)
		var body map[string]string
		require.NoError(t, json.Unmarshal(raw, &body), "%s: %s", c.name, raw)
		require.NotEmpty(t, body["error"], "%s: %s", c.name, raw)
		require.Len(t, body, 1, "%s: %s", c.name, raw)
		if code == http.StatusMethodNotAllowed {
			require.NotEmpty(t, header.Get("Allow"), c.name)
		}
		t.Logf("%s: %d %s", c.name, code, raw)
	}

	// Nothing changed. The webhook writes the cluster before it answers, so a wrong write would
	// be there now: no spec or metadata write, no scale annotation. The operator has reconciled
	// the cluster twice since: no new pod.
	after := f.Cluster(t, ns, "discovered")
	require.Equal(t, rc.Generation, after.Generation)
	require.EqualValues(t, 3, after.Spec.Masters)
	require.NotContains(t, after.Annotations, httpapi.AnnotationLastAutoscale)
	op.WaitReconciles(t, ns, 2, 30*time.Second)
	require.Equal(t, 6, countPods(t, ns))
	checkDiscovery(t, op, after, "clusterName=discovered&namespace="+ns)

	// The same body with the right token is accepted: the refusals above were for their reasons.
	code, _, raw = apiCall(t, op, http.MethodPost, webhook, good, bearer(token))
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var resp httpapi.WebhookResponse
	require.NoError(t, json.Unmarshal(raw, &resp))
	require.Len(t, resp.Alerts, 1)
	require.Equal(t, httpapi.OutcomeScaled, resp.Alerts[0].Outcome, "%s", raw)
	require.EqualValues(t, 4, f.Cluster(t, ns, "discovered").Spec.Masters)
	// No Event for a refused call: the operator records its Events in order, so once this
	// scale-out's is there, one of a refusal before it would be too.
	framework.WaitFor(t, 30*time.Second, "the scale-out's Autoscaled Event", func() (bool, error) {
		return autoscaledEvents(t, ns, "discovered") > 0, nil
	})
	require.Equal(t, 1, autoscaledEvents(t, ns, "discovered"), "Autoscaled Events: the scale-out's alone")
}
