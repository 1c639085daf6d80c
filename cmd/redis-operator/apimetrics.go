package main

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// apiRequests counts the operator's requests to the Kubernetes API by verb and resource, so that
// what an idle cluster costs the API server can be read off /metrics: with nothing changing, no
// write but the leader's Lease renewals.
type apiRequests struct {
	next  http.RoundTripper
	total *prometheus.CounterVec
}

func newAPIRequests(reg prometheus.Registerer) *apiRequests {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "redis_operator_kube_api_requests_total",
		Help: "Requests of the operator to the Kubernetes API, by verb (get, list, watch, create, update, patch, delete), resource[/subresource] and HTTP status code.",
	}, []string{"verb", "resource", "code"})
	reg.MustRegister(total)
	return &apiRequests{total: total}
}

// wrap is a rest.Config's WrapTransport.
func (a *apiRequests) wrap(next http.RoundTripper) http.RoundTripper {
	return &apiRequests{next: next, total: a.total}
}

func (a *apiRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	verb, resource := apiVerbResource(req.Method, req.URL.Path, req.URL.Query().Get("watch") == "true")
	a.total.WithLabelValues(verb, resource, code).Inc()
	return resp, err
}

// apiVerbResource names a request to the Kubernetes API the way RBAC does: the verb and the
// resource, with its subresource after a slash (redisclusters/status). Paths outside the
// resource API (discovery, /version) are resource "other".
func apiVerbResource(method, path string, watch bool) (string, string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// /api/v1/... or /apis/group/version/...
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(method), "other"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return strings.ToLower(method), "other"
	}
	resource, named := parts[0], len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	switch method {
	case http.MethodGet:
		switch {
		case watch:
			return "watch", resource
		case named:
			return "get", resource
		}
		return "list", resource
	case http.MethodPost:
		return "create", resource
	case http.MethodPut:
		return "update", resource
	case http.MethodPatch:
		return "patch", resource
	case http.MethodDelete:
		if named {
			return "delete", resource
		}
		return "deletecollection", resource
	}
	return strings.ToLower(method), resource
}
