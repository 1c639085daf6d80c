package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIVerbResource(t *testing.T) {
	for _, c := range []struct {
		method, path   string
		watch          bool
		verb, resource string
	}{
		{"GET", "/api/v1/namespaces/a/pods", false, "list", "pods"},
		{"GET", "/api/v1/namespaces/a/pods", true, "watch", "pods"},
		{"GET", "/api/v1/namespaces/a/pods/p-0", false, "get", "pods"},
		{"GET", "/api/v1/nodes", false, "list", "nodes"},
		{"GET", "/api/v1/nodes/n1", false, "get", "nodes"},
		{"PUT", "/apis/redis.redis/v1beta1/namespaces/a/redisclusters/c/status", false, "update", "redisclusters/status"},
		{"POST", "/apis/coordination.k8s.io/v1/namespaces/a/leases", false, "create", "leases"},
		{"PATCH", "/api/v1/namespaces/a/events/e", false, "patch", "events"},
		{"DELETE", "/apis/batch/v1/namespaces/a/jobs", false, "deletecollection", "jobs"},
		{"DELETE", "/api/v1/namespaces/a/pods/p/eviction", false, "delete", "pods/eviction"},
		{"POST", "/api/v1/namespaces/a/pods/p/eviction", false, "create", "pods/eviction"},
		{"GET", "/apis/redis.redis/v1beta1", false, "get", "other"},
		{"GET", "/version", false, "get", "other"},
		{"GET", "/api/v1/namespaces", false, "list", "namespaces"},
	} {
		verb, resource := apiVerbResource(c.method, c.path, c.watch)
		assert.Equal(t, [2]string{c.verb, c.resource}, [2]string{verb, resource}, "%s %s", c.method, c.path)
	}
}

func TestAPIRequestsCountsWhatPassesThrough(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusConflict)
		}
	}))
	defer server.Close()
	counted := newAPIRequests(prometheus.NewRegistry())
	client := &http.Client{Transport: counted.wrap(http.DefaultTransport)}
	for range 2 {
		resp, err := client.Get(server.URL + "/api/v1/namespaces/a/pods?watch=true")
		require.NoError(t, err)
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, server.URL+"/apis/redis.redis/v1beta1/namespaces/a/redisclusters/c/status", nil)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, 2.0, testutil.ToFloat64(counted.total.WithLabelValues("watch", "pods", "200")))
	assert.Equal(t, 1.0, testutil.ToFloat64(counted.total.WithLabelValues("update", "redisclusters/status", "409")))
	assert.Equal(t, 2, testutil.CollectAndCount(counted.total))
}
