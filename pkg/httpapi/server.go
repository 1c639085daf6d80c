package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	redislisters "redis-operator/pkg/generated/listers/redis/v1beta1"
)

// Server answers the operator's HTTP API from the informers' listers; no request reaches the
// API server except a webhook's scale change, which goes through Scaler.
type Server struct {
	clusters redislisters.RedisClusterLister
	scaler   Scaler
	token    string
	anyone   bool
	// checkMasters, when set, says why a cluster cannot run with a masters count.
	checkMasters func(ctx context.Context, namespace, name string, masters int32) error
	metrics      *metrics
	log          zerolog.Logger
	now          func() time.Time
}

// Options configure a Server.
type Options struct {
	Clusters redislisters.RedisClusterLister
	Scaler   Scaler
	// WebhookToken is the bearer token the webhook requires. Without it the webhook answers 403,
	// unless WebhookAllowUnauthenticated: scaling is too much to grant whoever reaches the port.
	WebhookToken                string
	WebhookAllowUnauthenticated bool
	// CheckMasters says why a cluster cannot run with a masters count (ports another cluster
	// holds, a scale-in that does not fit in memory); the webhook then answers 409 and changes
	// nothing. It must answer from the cluster as it is, not from what only the leader saw:
	// any replica of the operator may receive the alert.
	CheckMasters func(ctx context.Context, namespace, name string, masters int32) error

	Registerer prometheus.Registerer
	Log        zerolog.Logger
}

// New creates a Server.
func New(opts Options) *Server {
	return &Server{
		clusters:     opts.Clusters,
		scaler:       opts.Scaler,
		token:        opts.WebhookToken,
		anyone:       opts.WebhookAllowUnauthenticated,
		checkMasters: opts.CheckMasters,
		metrics:      newMetrics(opts.Registerer),
		log:          opts.Log,
		now:          time.Now,
	}
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	s.route(mux, "/cluster/nodes", http.MethodGet, s.handleNodes)
	s.route(mux, "/clusters", http.MethodGet, s.handleClusters)
	s.route(mux, "/webhooks/alertmanager", http.MethodPost, s.handleAlertmanager)
}

// route registers a handler for one method, answering other methods with a JSON 405, and counts
// requests by route and status code.
func (s *Server) route(mux *http.ServeMux, path, method string, handle http.HandlerFunc) {
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			rec.Header().Set("Allow", method)
			writeError(rec, http.StatusMethodNotAllowed, fmt.Sprintf("%s accepts %s only, not %s", path, method, r.Method))
		} else {
			handle(rec, r)
		}
		s.metrics.requests.WithLabelValues(path, strconv.Itoa(rec.code)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// errorBody is the JSON of every error the API returns.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// lookupError is a failed cluster lookup with the HTTP status it maps to; namespaces are where
// an ambiguous name exists.
type lookupError struct {
	code       int
	msg        string
	namespaces []string
}

func (e *lookupError) Error() string { return e.msg }

// findCluster finds a cluster by name, in namespace when given, else across the watched
// namespaces, where the name must be unique.
func (s *Server) findCluster(name, namespace string) (*redisv1beta1.RedisCluster, error) {
	if namespace != "" {
		rc, err := s.clusters.RedisClusters(namespace).Get(name)
		if errors.IsNotFound(err) {
			return nil, &lookupError{code: http.StatusNotFound, msg: fmt.Sprintf("no RedisCluster %s in namespace %s", name, namespace)}
		}
		return rc, err
	}
	all, err := s.clusters.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var found []*redisv1beta1.RedisCluster
	for _, rc := range all {
		if rc.Name == name {
			found = append(found, rc)
		}
	}
	switch len(found) {
	case 0:
		return nil, &lookupError{code: http.StatusNotFound, msg: fmt.Sprintf("no RedisCluster named %s in any watched namespace", name)}
	case 1:
		return found[0], nil
	}
	namespaces := make([]string, 0, len(found))
	for _, rc := range found {
		namespaces = append(namespaces, rc.Namespace)
	}
	sort.Strings(namespaces)
	return nil, &lookupError{code: http.StatusConflict, namespaces: namespaces, msg: fmt.Sprintf(
		"RedisCluster %s exists in namespaces %s; add &namespace=<one of them>", name, strings.Join(namespaces, ", "))}
}

// ServerTimeouts bound each connection of an HTTP server, so that a slow or idle client cannot
// hold one, and its goroutine, forever.
type ServerTimeouts struct {
	// ReadHeader bounds reading the request line and headers.
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included.
	Read time.Duration
	// Write bounds the time from the end of the headers to the end of the answer.
	Write time.Duration
	// Idle bounds the wait for the next request on a keep-alive connection.
	Idle time.Duration
}

// DefaultServerTimeouts are the operator's: far above what its answers from the cache and a
// 1 MiB webhook body take, and Idle above a 30 s scrape interval so scrapes keep their connection.
var DefaultServerTimeouts = ServerTimeouts{
	ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 120 * time.Second,
}

// NewHTTPServer returns a server of handler on addr with the timeouts.
func NewHTTPServer(addr string, handler http.Handler, t ServerTimeouts) *http.Server {
	return &http.Server{
		Addr: addr, Handler: handler,
		ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle,
	}
}
