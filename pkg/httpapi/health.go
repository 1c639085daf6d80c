// Package httpapi serves the operator's HTTP endpoints: health checks now, node discovery and the
// Alertmanager webhook on top of the same mux.
package httpapi

import (
	"encoding/json"
	"net/http"
)

// Check reports nil when the component it looks at is fine.
type Check func(r *http.Request) error

// HandleHealth registers /healthz (the process works: restart it when not) and /readyz (it can
// serve: route traffic to it when so) on mux.
func HandleHealth(mux *http.ServeMux, healthy, ready Check) {
	mux.Handle("GET /healthz", checkHandler(healthy))
	mux.Handle("GET /readyz", checkHandler(ready))
}

func checkHandler(check Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := check(r); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failing", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func writeJSON(w http.ResponseWriter, code int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
