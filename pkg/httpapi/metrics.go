package httpapi

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests       *prometheus.CounterVec
	webhookActions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_operator_http_requests_total",
			Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		webhookActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_operator_webhook_actions_total",
			Help: "Alerts received on the Alertmanager webhook, by alert name (\"other\" for any but the autoscaling alerts) and outcome.",
		}, []string{"alert", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.webhookActions)
	}
	return m
}
