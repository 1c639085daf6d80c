package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	redislisters "redis-operator/pkg/generated/listers/redis/v1beta1"
)

// recordingScaler applies decisions to its own copies, as the API server would.
type recordingScaler struct {
	calls []string
}

func (s *recordingScaler) ScaleMasters(_ context.Context, rc *redisv1beta1.RedisCluster,
	decide func(*redisv1beta1.RedisCluster) (int32, bool), cause string) error {
	if masters, ok := decide(rc); ok {
		s.calls = append(s.calls, rc.Namespace+"/"+rc.Name+" -> "+itoa(masters)+" by "+cause)
	}
	return nil
}

func itoa(n int32) string { b, _ := json.Marshal(n); return string(b) }

func testServer(t *testing.T, token string, clusters ...*redisv1beta1.RedisCluster) (*httptest.Server, *recordingScaler) {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, rc := range clusters {
		require.NoError(t, indexer.Add(rc))
	}
	scaler := &recordingScaler{}
	s := New(Options{
		Clusters: redislisters.NewRedisClusterLister(indexer), Scaler: scaler, WebhookToken: token,
		Registerer: prometheus.NewRegistry(), Log: zerolog.Nop(),
	})
	s.now = func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, scaler
}

func readyCluster(namespace, name string, nodes ...redisv1beta1.NodeStatus) *redisv1beta1.RedisCluster {
	return &redisv1beta1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1},
		Spec:       redisv1beta1.RedisClusterSpec{Masters: 3, Replicas: 1, BasePort: 10000},
		Status:     redisv1beta1.RedisClusterStatus{ObservedGeneration: 1, Nodes: nodes},
	}
}

func do(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode >= 400 {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var e errorBody
		require.NoError(t, json.Unmarshal(raw, &e), "errors are JSON: %s", raw)
		require.NotEmpty(t, e.Error)
	}
	return resp.StatusCode, string(raw)
}

func TestClusterNodes(t *testing.T) {
	rc := readyCluster("cache", "rediscluster1",
		redisv1beta1.NodeStatus{Pod: "rediscluster1-0", IP: "127.0.0.11", Port: 10000, Role: "master", NodeID: "a", Slots: []string{"0-5460"}, Ready: true},
		redisv1beta1.NodeStatus{Pod: "rediscluster1-1", IP: "127.0.0.12", Port: 10001, Role: "replica", NodeID: "b"},
		redisv1beta1.NodeStatus{Pod: "rediscluster1-2", Port: 10002},
	)
	srv, _ := testServer(t, "", rc, readyCluster("other", "rediscluster2"))

	code, body := do(t, http.MethodGet, srv.URL+"/cluster/nodes?clusterName=rediscluster1", "", nil)
	require.Equal(t, http.StatusOK, code)
	var nodes []map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(body), &nodes))
	require.Len(t, nodes, 2, "a node without an address yet is not listed")
	require.Equal(t, "127.0.0.11", nodes[0]["ip"])
	require.EqualValues(t, 10000, nodes[0]["port"])
	require.Equal(t, "master", nodes[0]["role"])
	require.Equal(t, true, nodes[0]["ready"])
	require.Equal(t, false, nodes[1]["ready"])

	code, body = do(t, http.MethodGet, srv.URL+"/cluster/nodes?clusterName=rediscluster2&namespace=other", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "[]\n", body, "an empty list is [], never null")
}

func TestClusterNodesErrors(t *testing.T) {
	srv, _ := testServer(t, "", readyCluster("a", "dup"), readyCluster("b", "dup"), readyCluster("a", "one"))
	cases := []struct {
		name, method, path string
		code               int
		says               string
	}{
		{"missing name", http.MethodGet, "/cluster/nodes", http.StatusBadRequest, "clusterName is required"},
		{"invalid name", http.MethodGet, "/cluster/nodes?clusterName=Not_A_Name", http.StatusBadRequest, "not a valid resource name"},
		{"invalid namespace", http.MethodGet, "/cluster/nodes?clusterName=one&namespace=a.b", http.StatusBadRequest, "not a valid namespace"},
		{"unknown", http.MethodGet, "/cluster/nodes?clusterName=nope", http.StatusNotFound, "no RedisCluster named nope"},
		{"unknown in namespace", http.MethodGet, "/cluster/nodes?clusterName=one&namespace=b", http.StatusNotFound, "in namespace b"},
		{"ambiguous", http.MethodGet, "/cluster/nodes?clusterName=dup", http.StatusConflict, "namespaces a, b"},
		{"wrong method", http.MethodPost, "/cluster/nodes?clusterName=one", http.StatusMethodNotAllowed, "accepts GET only"},
		{"webhook by GET", http.MethodGet, "/webhooks/alertmanager", http.StatusMethodNotAllowed, "accepts POST only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, srv.URL+tc.path, "", nil)
			require.Equal(t, tc.code, code)
			require.Contains(t, body, tc.says)
		})
	}
}

func TestClusters(t *testing.T) {
	rc := readyCluster("cache", "rediscluster1")
	rc.Status.Conditions = []metav1.Condition{{Type: redisv1beta1.ConditionReady, Status: metav1.ConditionTrue, Reason: "ClusterHealthy"}}
	srv, _ := testServer(t, "", rc, readyCluster("a", "other"))
	code, body := do(t, http.MethodGet, srv.URL+"/clusters", "", nil)
	require.Equal(t, http.StatusOK, code)
	var list []ClusterSummary
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list, 2)
	require.Equal(t, "a", list[0].Namespace)
	require.True(t, list[1].Ready)
	require.Equal(t, "ClusterHealthy", list[1].Reason)
}

func alertBody(alerts ...string) string {
	return `{"version":"4","status":"firing","receiver":"redis-operator","alerts":[` + strings.Join(alerts, ",") + `]}`
}

func alert(name, status, labels string) string {
	return `{"status":"` + status + `","labels":{"alertname":"` + name + `"` + labels + `},"annotations":{},"fingerprint":"f-` + name + `"}`
}

func TestWebhookScalesAndReports(t *testing.T) {
	srv, scaler := testServer(t, "s3cret", readyCluster("cache", "rediscluster1"), readyCluster("a", "dup"), readyCluster("b", "dup"))
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	body := alertBody(
		alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`),
		alert("LowThroughput", "resolved", `,"redis_cluster":"rediscluster1","namespace":"cache"`),
		alert("DiskFull", "firing", `,"redis_cluster":"rediscluster1"`),
		alert("HighThroughput", "firing", `,"redis_cluster":"nope"`),
		alert("HighThroughput", "firing", `,"redis_cluster":"dup"`),
		alert("HighThroughput", "firing", ``),
	)
	code, raw := do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", body, auth)
	require.Equal(t, http.StatusOK, code)
	var resp WebhookResponse
	require.NoError(t, json.Unmarshal([]byte(raw), &resp))
	require.Len(t, resp.Alerts, 6)
	outcomes := []string{}
	for _, r := range resp.Alerts {
		outcomes = append(outcomes, r.Outcome+":"+strings.SplitN(r.Reason, ":", 2)[0])
	}
	require.Equal(t, []string{
		"scaled:", "ignored:resolved", "ignored:not an autoscaling alert",
		"skipped:" + SkipUnknown, "skipped:" + SkipAmbiguous, "skipped:" + SkipNoClusterName + " (redis_cluster, rediscluster or cluster)",
	}, outcomes)
	require.EqualValues(t, 3, resp.Alerts[0].From)
	require.EqualValues(t, 4, resp.Alerts[0].To)
	require.Equal(t, []string{"cache/rediscluster1 -> 4 by alert HighMemoryUsage (fingerprint f-HighMemoryUsage)"}, scaler.calls)
}

func TestWebhookRejectsBadRequestsWithoutChanges(t *testing.T) {
	srv, scaler := testServer(t, "s3cret", readyCluster("cache", "rediscluster1"))
	good := alertBody(alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1"`))
	cases := []struct {
		name   string
		body   string
		header map[string]string
		code   int
	}{
		{"no token", good, nil, http.StatusUnauthorized},
		{"wrong token", good, map[string]string{"Authorization": "Bearer guess"}, http.StatusUnauthorized},
		{"basic auth", good, map[string]string{"Authorization": "Basic czNjcmV0"}, http.StatusUnauthorized},
		{"not JSON", "hello", map[string]string{"Authorization": "Bearer s3cret"}, http.StatusBadRequest},
		{"not the shape", `{"foo":1}`, map[string]string{"Authorization": "Bearer s3cret"}, http.StatusBadRequest},
		{"too large", `{"alerts":[],"pad":"` + strings.Repeat("x", maxWebhookBody) + `"}`, map[string]string{"Authorization": "Bearer s3cret"}, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", tc.body, tc.header)
			require.Equal(t, tc.code, code)
		})
	}
	require.Empty(t, scaler.calls, "no bad request changed anything")
}
