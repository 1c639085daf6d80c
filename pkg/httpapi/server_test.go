package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
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
	return testServerWith(t, Options{WebhookToken: token}, clusters...)
}

// testServerWith serves opts with the clusters, a recordingScaler and, unless opts has one, a
// registry of its own.
func testServerWith(t *testing.T, opts Options, clusters ...*redisv1beta1.RedisCluster) (*httptest.Server, *recordingScaler) {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, rc := range clusters {
		require.NoError(t, indexer.Add(rc))
	}
	scaler := &recordingScaler{}
	opts.Clusters, opts.Scaler, opts.Log = redislisters.NewRedisClusterLister(indexer), scaler, zerolog.Nop()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s := New(opts)
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
	require.NotContains(t, nodes[0], "tls", "a plain cluster's entries are as before")

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
	srv, scaler := testServer(t, "s3cret", readyCluster("cache", "rediscluster1"))
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	body := alertBody(
		alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`),
		alert("LowThroughput", "resolved", `,"redis_cluster":"rediscluster1","namespace":"cache"`),
		alert("DiskFull", "firing", `,"redis_cluster":"rediscluster1"`),
		alert("HighThroughput", "firing", `,"redis_cluster":"nope"`),
		alert("HighThroughput", "firing", ``),
	)
	code, raw := do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", body, auth)
	require.Equal(t, http.StatusOK, code)
	var resp WebhookResponse
	require.NoError(t, json.Unmarshal([]byte(raw), &resp))
	require.Len(t, resp.Alerts, 5)
	outcomes := []string{}
	for _, r := range resp.Alerts {
		outcomes = append(outcomes, r.Outcome+":"+strings.SplitN(r.Reason, ":", 2)[0])
	}
	require.Equal(t, []string{
		"scaled:", "ignored:resolved", "ignored:not an autoscaling alert",
		"skipped:" + SkipUnknown, "skipped:" + SkipNoClusterName + " (redis_cluster, rediscluster or cluster)",
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

// Without a token the webhook is off unless the operator was told to accept anyone.
func TestWebhookOffWithoutToken(t *testing.T) {
	srv, scaler := testServer(t, "", readyCluster("cache", "rediscluster1"))
	body := alertBody(alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`))
	code, raw := do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", body, nil)
	require.Equal(t, http.StatusForbidden, code, raw)
	require.Contains(t, raw, "--webhook-token-file")
	require.Contains(t, raw, "--webhook-allow-unauthenticated")
	require.Empty(t, scaler.calls)
}

func TestWebhookAllowUnauthenticated(t *testing.T) {
	srv, scaler := testServerWith(t, Options{WebhookAllowUnauthenticated: true}, readyCluster("cache", "rediscluster1"))
	body := alertBody(alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`))
	code, raw := do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", body, nil)
	require.Equal(t, http.StatusOK, code, raw)
	require.Len(t, scaler.calls, 1)

	// A token still wins over the flag.
	srv, scaler = testServerWith(t, Options{WebhookToken: "s3cret", WebhookAllowUnauthenticated: true}, readyCluster("cache", "rediscluster1"))
	code, _ = do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", body, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Empty(t, scaler.calls)
}

// Alert names are the callers' to choose: the metrics count the autoscaling ones by name and
// every other under one label value, so no caller can grow the series without bound.
func TestWebhookMetricsBoundAlertNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := testServerWith(t, Options{WebhookToken: "s3cret", Registerer: reg}, readyCluster("cache", "rediscluster1"))
	labels := `,"redis_cluster":"rediscluster1","namespace":"cache"`
	alerts := []string{alert("HighMemoryUsage", "firing", labels), alert("RedisLowThroughput", "resolved", labels)}
	for i := range 20 {
		alerts = append(alerts, alert(fmt.Sprintf("Made-Up-%d", i), "firing", labels))
	}
	code, raw := do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager", alertBody(alerts...), map[string]string{"Authorization": "Bearer s3cret"})
	require.Equal(t, http.StatusOK, code, raw)

	families, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	for _, mf := range families {
		if mf.GetName() != "redis_operator_webhook_actions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			counts[labels["alert"]+"/"+labels["outcome"]] += m.GetCounter().GetValue()
		}
	}
	require.Equal(t, map[string]float64{
		"HighMemoryUsage/" + OutcomeScaled:     1,
		"RedisLowThroughput/" + OutcomeIgnored: 1,
		"other/" + OutcomeIgnored:              20,
	}, counts)
}

// An alert without a namespace label names a cluster only when the name is unique; otherwise
// the webhook refuses the whole payload and scales nothing.
func TestWebhookAmbiguousClusterConflicts(t *testing.T) {
	srv, scaler := testServer(t, "s3cret", readyCluster("cache", "rediscluster1"), readyCluster("a", "dup"), readyCluster("b", "dup"))
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	hook := srv.URL + "/webhooks/alertmanager"

	code, raw := do(t, http.MethodPost, hook, alertBody(
		alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`),
		alert("HighThroughput", "firing", `,"redis_cluster":"dup"`),
	), auth)
	require.Equal(t, http.StatusConflict, code, raw)
	require.Contains(t, raw, "namespaces a, b")
	require.Empty(t, scaler.calls, "nothing changes, not even the unambiguous alert's cluster")

	// Unique without namespace, or disambiguated by it, acts; a resolved alert never needs the cluster.
	code, raw = do(t, http.MethodPost, hook, alertBody(
		alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1"`),
		alert("HighThroughput", "firing", `,"redis_cluster":"dup","namespace":"b"`),
		alert("LowThroughput", "resolved", `,"redis_cluster":"dup"`),
	), auth)
	require.Equal(t, http.StatusOK, code, raw)
	require.Equal(t, []string{
		"cache/rediscluster1 -> 4 by alert HighMemoryUsage (fingerprint f-HighMemoryUsage)",
		"b/dup -> 4 by alert HighThroughput (fingerprint f-HighThroughput)",
	}, scaler.calls)
}

func TestNewHTTPServerSetsEveryTimeout(t *testing.T) {
	s := NewHTTPServer(":0", http.NewServeMux(), DefaultServerTimeouts)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		require.Positive(t, d, name)
	}
}

// A client that sends one byte a second, or nothing after its answer, loses its connection once
// a timeout runs out. The timeouts are small here; DefaultServerTimeouts are the operator's.
func TestHTTPServerClosesSlowClients(t *testing.T) {
	timeouts := ServerTimeouts{ReadHeader: time.Second, Read: 2 * time.Second, Write: 3 * time.Second, Idle: time.Second}
	api := New(Options{
		Clusters:     redislisters.NewRedisClusterLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})),
		WebhookToken: "s3cret", Registerer: prometheus.NewRegistry(), Log: zerolog.Nop(),
	})
	mux := http.NewServeMux()
	api.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewHTTPServer(ln.Addr().String(), mux, timeouts)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	cases := []struct {
		name, sent, dripped string
		within              time.Duration
	}{
		{"headers one byte a second", "", "GET /clusters HTTP/1.1\r\nHost: operator\r\nX-Slow: " + strings.Repeat("x", 60), timeouts.ReadHeader},
		{"body one byte a second", "POST /webhooks/alertmanager HTTP/1.1\r\nHost: operator\r\nAuthorization: Bearer s3cret\r\n" +
			"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n", `{"alerts":[` + strings.Repeat(" ", 89), timeouts.Read},
		{"idle after an answer", "GET /clusters HTTP/1.1\r\nHost: operator\r\n\r\n", "", timeouts.Idle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = io.WriteString(conn, tc.sent)
			require.NoError(t, err)
			go func() {
				for i := range len(tc.dripped) {
					if _, err := io.WriteString(conn, tc.dripped[i:i+1]); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}()
			// The server's answer, if any, then its close; the deadline only bounds the test.
			limit := tc.within + 1500*time.Millisecond
			require.NoError(t, conn.SetReadDeadline(start.Add(limit+2*time.Second)))
			_, err = io.Copy(io.Discard, conn)
			elapsed := time.Since(start)
			if err != nil {
				require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server still held the connection after %s", elapsed.Round(time.Millisecond))
			}
			require.Less(t, elapsed, limit, "the server closed the connection only after %s", elapsed)
		})
	}
}

// A change the operator says does not fit (host ports, memory) is answered 409 with the reason,
// and nothing changes.
func TestWebhookRefusesAScaleInThatDoesNotFit(t *testing.T) {
	var asked []int32
	srv, scaler := testServerWith(t, Options{WebhookToken: "s3cret", CheckMasters: func(_ context.Context, namespace, name string, masters int32) error {
		asked = append(asked, masters)
		return errors.New("node 1 would use 95.3 MiB of 100.0 MiB maxmemory")
	}}, readyCluster("cache", "rediscluster1"))
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	hook := srv.URL + "/webhooks/alertmanager"
	low := readyCluster("cache", "rediscluster1")
	low.Spec.Masters = 4

	code, raw := do(t, http.MethodPost, hook, alertBody(alert("HighMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`)), auth)
	require.Equal(t, http.StatusConflict, code, raw)
	require.Equal(t, []int32{4}, asked, "a scale-out is checked too (host ports)")
	require.Empty(t, scaler.calls)
	asked = nil

	srv, scaler = testServerWith(t, Options{WebhookToken: "s3cret", CheckMasters: func(_ context.Context, namespace, name string, masters int32) error {
		asked = append(asked, masters)
		return errors.New("node 1 would use 95.3 MiB of 100.0 MiB maxmemory")
	}}, low)
	code, raw = do(t, http.MethodPost, srv.URL+"/webhooks/alertmanager",
		alertBody(alert("LowMemoryUsage", "firing", `,"redis_cluster":"rediscluster1","namespace":"cache"`)), auth)
	require.Equal(t, http.StatusConflict, code, raw)
	require.Contains(t, raw, "95.3 MiB of 100.0 MiB")
	require.Equal(t, []int32{3}, asked)
	require.Empty(t, scaler.calls, "nothing changes")
}

func TestClusterNodesOfATLSClusterSayTLS(t *testing.T) {
	rc := readyCluster("cache", "secure", redisv1beta1.NodeStatus{Pod: "secure-0", IP: "127.0.0.11", Port: 10000, Ready: true})
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	srv, _ := testServer(t, "", rc)
	code, body := do(t, http.MethodGet, srv.URL+"/cluster/nodes?clusterName=secure", "", nil)
	require.Equal(t, http.StatusOK, code)
	var nodes []map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(body), &nodes))
	require.Equal(t, true, nodes[0]["tls"])
	require.EqualValues(t, 10000, nodes[0]["port"], "the TLS port is the node's port")
}
