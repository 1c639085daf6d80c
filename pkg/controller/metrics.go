package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics are the controller's Prometheus metrics. They are registered on the Registerer given
// to NewMetrics, never on a global registry.
type Metrics struct {
	reconciles        *prometheus.CounterVec
	reconcileErrors   *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
	queue             workqueue.MetricsProvider
}

// NewMetrics creates the controller metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_operator_reconcile_total",
			Help: "Reconciles of RedisClusters, by namespace.",
		}, []string{"namespace"}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_operator_reconcile_errors_total",
			Help: "Reconciles of RedisClusters that returned an error, by namespace.",
		}, []string{"namespace"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redis_operator_reconcile_duration_seconds",
			Help:    "Time one reconcile of a RedisCluster took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"namespace"}),
		queue: newQueueMetricsProvider(reg),
	}
	reg.MustRegister(m.reconciles, m.reconcileErrors, m.reconcileDuration)
	return m
}

func (m *Metrics) observeReconcile(namespace string, started time.Time, err error) {
	m.reconciles.WithLabelValues(namespace).Inc()
	m.reconcileDuration.WithLabelValues(namespace).Observe(time.Since(started).Seconds())
	if err != nil {
		m.reconcileErrors.WithLabelValues(namespace).Inc()
	}
}

// queueMetricsProvider exports client-go workqueue metrics under the names kube-controller-manager
// uses (workqueue_depth{name=...} and so on), so existing dashboards read them.
type queueMetricsProvider struct {
	depth, unfinished, longestRunning *prometheus.GaugeVec
	adds, retries                     *prometheus.CounterVec
	latency, workDuration             *prometheus.HistogramVec
}

func newQueueMetricsProvider(reg prometheus.Registerer) *queueMetricsProvider {
	byName := []string{"name"}
	buckets := prometheus.ExponentialBuckets(1e-6, 10, 10)
	p := &queueMetricsProvider{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth", Help: "Current depth of the workqueue.",
		}, byName),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total", Help: "Adds handled by the workqueue.",
		}, byName),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "workqueue_queue_duration_seconds", Help: "Seconds an item waits in the workqueue before it is handled.",
			Buckets: buckets,
		}, byName),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "workqueue_work_duration_seconds", Help: "Seconds handling an item from the workqueue takes.",
			Buckets: buckets,
		}, byName),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_unfinished_work_seconds", Help: "Seconds of work in progress not yet observed by work_duration.",
		}, byName),
		longestRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_longest_running_processor_seconds", Help: "Seconds the longest running item has been in progress.",
		}, byName),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total", Help: "Retries handled by the workqueue.",
		}, byName),
	}
	reg.MustRegister(p.depth, p.adds, p.latency, p.workDuration, p.unfinished, p.longestRunning, p.retries)
	return p
}

func (p *queueMetricsProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	return p.depth.WithLabelValues(name)
}

func (p *queueMetricsProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	return p.adds.WithLabelValues(name)
}

func (p *queueMetricsProvider) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return p.latency.WithLabelValues(name)
}

func (p *queueMetricsProvider) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return p.workDuration.WithLabelValues(name)
}

func (p *queueMetricsProvider) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.unfinished.WithLabelValues(name)
}

func (p *queueMetricsProvider) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.longestRunning.WithLabelValues(name)
}

func (p *queueMetricsProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	return p.retries.WithLabelValues(name)
}
