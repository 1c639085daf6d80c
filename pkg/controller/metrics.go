package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/topology"
)

// Metrics are the controller's Prometheus metrics. They are registered on the Registerer given
// to NewMetrics, never on a global registry.
type Metrics struct {
	reconciles        *prometheus.CounterVec
	reconcileErrors   *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
	masterSlots       *prometheus.GaugeVec
	migrationPlanned  *prometheus.GaugeVec
	migrationDone     *prometheus.GaugeVec
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
		masterSlots: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redis_operator_master_slots",
			Help: "Slots each master of a RedisCluster owns, as of the last status the operator wrote.",
		}, []string{"namespace", "redis_cluster", "pod"}),
		migrationPlanned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redis_operator_migration_slots_planned",
			Help: "Slots the current (else the last) slot migration of a RedisCluster moves.",
		}, []string{"namespace", "redis_cluster"}),
		migrationDone: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redis_operator_migration_slots_done",
			Help: "Slots the current (else the last) slot migration of a RedisCluster has moved.",
		}, []string{"namespace", "redis_cluster"}),
		queue: newQueueMetricsProvider(reg),
	}
	reg.MustRegister(m.reconciles, m.reconcileErrors, m.reconcileDuration, m.masterSlots, m.migrationPlanned, m.migrationDone)
	return m
}

// observeStatus exports the slot spread and migration progress of the status written for rc.
func (m *Metrics) observeStatus(rc *redisv1beta1.RedisCluster, status *redisv1beta1.RedisClusterStatus) {
	cluster := prometheus.Labels{"namespace": rc.Namespace, "redis_cluster": rc.Name}
	m.masterSlots.DeletePartialMatch(cluster) // pods that stopped being masters drop out
	for _, n := range status.Nodes {
		if n.Role != redisv1beta1.RoleMaster || len(n.Slots) == 0 {
			continue
		}
		count := 0
		for _, text := range n.Slots {
			if r, err := topology.ParseSlotRange(text); err == nil {
				count += topology.CountSlots([]topology.SlotRange{r})
			}
		}
		m.masterSlots.WithLabelValues(rc.Namespace, rc.Name, n.Pod).Set(float64(count))
	}
	if mig := status.Migration; mig != nil || status.LastMigration != nil {
		if mig == nil {
			mig = status.LastMigration
		}
		m.migrationPlanned.WithLabelValues(rc.Namespace, rc.Name).Set(float64(mig.SlotsPlanned))
		m.migrationDone.WithLabelValues(rc.Namespace, rc.Name).Set(float64(mig.SlotsDone))
	}
}

// forgetCluster drops the series of a RedisCluster that was deleted.
func (m *Metrics) forgetCluster(namespace, name string) {
	cluster := prometheus.Labels{"namespace": namespace, "redis_cluster": name}
	m.masterSlots.DeletePartialMatch(cluster)
	m.migrationPlanned.DeletePartialMatch(cluster)
	m.migrationDone.DeletePartialMatch(cluster)
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
