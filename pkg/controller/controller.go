// Package controller reconciles RedisCluster resources: informer event handlers enqueue keys,
// workers take them off a rate-limited queue and sync one cluster at a time from the listers.
package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/backups"
	"redis-operator/pkg/controller/plan"
	clientset "redis-operator/pkg/generated/clientset/versioned"
	redisinformers "redis-operator/pkg/generated/informers/externalversions/redis/v1beta1"
	redislisters "redis-operator/pkg/generated/listers/redis/v1beta1"
	"redis-operator/pkg/redisops"
)

// queueName names the workqueue in metrics and logs.
const queueName = "redisclusters"

// syncTimeout bounds one sync: long work (moving slots) runs as the cluster's task, so a sync
// that takes longer is stuck on a node that does not answer, and is cut and retried.
const syncTimeout = time.Minute

// taskContext is the context a task started by a sync runs under: the workers' (see tasks),
// or, for a sync run outside Run, the sync's own.
func (c *Controller) taskContext(sync context.Context) context.Context {
	if c.tasks != nil {
		return c.tasks
	}
	return sync
}

// Controller reconciles RedisClusters with the pods, services, config maps and claims they own.
type Controller struct {
	kubeClient kubernetes.Interface

	clusters        redislisters.RedisClusterLister
	pods            corelisters.PodLister
	services        corelisters.ServiceLister
	claims          corelisters.PersistentVolumeClaimLister
	secrets         corelisters.SecretLister
	nodes           corelisters.NodeLister
	budgets         policylisters.PodDisruptionBudgetLister
	backups         redislisters.RedisClusterBackupLister
	informersSynced []cache.InformerSynced

	redis      redisConnections
	migrations migrations
	// spreadTries holds each cluster's last pod replaced to spread shards (*plan.SpreadTry).
	spreadTries sync.Map
	status      *statusWriter
	queue       workqueue.TypedRateLimitingInterface[cache.ObjectName]
	recorder    record.EventRecorder
	metrics     *Metrics
	log         zerolog.Logger
	// tasks is the workers' context, which migrations and repairs run under: they stop when
	// leadership is lost, not when the sync that started them ends. Set by Run.
	tasks context.Context
	// shutdownGrace bounds how long Run waits for migrations to stop at a slot boundary.
	shutdownGrace time.Duration
	// validity is how long the node certificates the operator makes last.
	validity time.Duration
	// backupImage runs the restore's init containers; openStore reads a backup's manifest.
	backupImage string
	openStore   backups.Opener
	// resyncSpread is the span over which a cluster's periodic resync is delayed at random.
	resyncSpread time.Duration

	// syncHandler is a field so tests can observe which keys get synced.
	syncHandler func(ctx context.Context, key cache.ObjectName) error
}

// Informers are the shared informers the controller reads from. Pods, Services and Claims should
// be filtered to ManagedSelector so the caches hold only the operator's objects; Secrets cannot
// be, since clusters name their users' password Secrets.
type Informers struct {
	Clusters redisinformers.RedisClusterInformer
	Pods     coreinformers.PodInformer
	Services coreinformers.ServiceInformer
	Claims   coreinformers.PersistentVolumeClaimInformer
	Secrets  coreinformers.SecretInformer
	// Nodes tell which Kubernetes nodes are cordoned; Budgets are the clusters' disruption
	// budgets (filtered like Pods).
	Nodes   coreinformers.NodeInformer
	Budgets policyinformers.PodDisruptionBudgetInformer
	// Backups hold slot migrations while they stream a cluster's shards; none when nil.
	Backups redisinformers.RedisClusterBackupInformer
}

// Config holds the controller's settings.
type Config struct {
	// Connect opens the connections to one cluster's Redis nodes, over TLS with tlsConfig when it
	// is set; redisops.NewAdmin or NewTLSAdmin when nil.
	Connect func(tlsConfig *tls.Config, passwords ...string) redisops.Cluster
	// ShutdownGracePeriod bounds how long Run waits, once its context ends, for running
	// migrations to stop at a slot boundary.
	ShutdownGracePeriod time.Duration
	// CertificateValidity is how long the node certificates the operator makes last (90 days
	// when 0).
	CertificateValidity time.Duration
	// BackupImage is the operator's own image, whose restore-shard command the init containers
	// of a restored cluster's nodes run.
	BackupImage string
	// OpenStore opens a backup's destination (backups.OpenS3 when nil).
	OpenStore backups.Opener
	// ResyncPeriod is the informers' resync period: each resync of a cluster is spread over
	// half of it.
	ResyncPeriod time.Duration
}

// New wires a controller to its informers. Event handlers only enqueue keys.
func New(kubeClient kubernetes.Interface, redisClient clientset.Interface, inf Informers,
	recorder record.EventRecorder, metrics *Metrics, log zerolog.Logger, cfg Config) (*Controller, error) {
	if cfg.CertificateValidity <= 0 {
		cfg.CertificateValidity = 90 * 24 * time.Hour
	}
	if cfg.Connect == nil {
		cfg.Connect = func(tlsConfig *tls.Config, passwords ...string) redisops.Cluster {
			if tlsConfig != nil {
				return redisops.NewTLSAdmin(tlsConfig, passwords...)
			}
			return redisops.NewAdmin(passwords...)
		}
	}
	c := &Controller{
		kubeClient: kubeClient,
		clusters:   inf.Clusters.Lister(),
		pods:       inf.Pods.Lister(),
		services:   inf.Services.Lister(),
		claims:     inf.Claims.Lister(),
		secrets:    inf.Secrets.Lister(),
		nodes:      inf.Nodes.Lister(),
		budgets:    inf.Budgets.Lister(),
		informersSynced: []cache.InformerSynced{
			inf.Clusters.Informer().HasSynced, inf.Pods.Informer().HasSynced, inf.Services.Informer().HasSynced,
			inf.Claims.Informer().HasSynced, inf.Secrets.Informer().HasSynced,
			inf.Nodes.Informer().HasSynced, inf.Budgets.Informer().HasSynced,
		},
		redis:         redisConnections{connect: cfg.Connect},
		status:        &statusWriter{client: redisClient, metrics: metrics, interval: minStatusInterval},
		shutdownGrace: cfg.ShutdownGracePeriod,
		validity:      cfg.CertificateValidity,
		backupImage:   cfg.BackupImage,
		openStore:     cfg.OpenStore,
		resyncSpread:  cfg.ResyncPeriod / 2,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: queueName, MetricsProvider: metrics.queue},
		),
		recorder: recorder,
		metrics:  metrics,
		log:      log,
	}
	c.syncHandler = c.sync
	if inf.Backups != nil {
		if err := c.watchBackups(inf.Backups); err != nil {
			return nil, err
		}
	}

	if _, err := inf.Clusters.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur interface{}) {
			before, after := old.(*redisv1beta1.RedisCluster), cur.(*redisv1beta1.RedisCluster)
			switch {
			case before.ResourceVersion == after.ResourceVersion:
				c.enqueueResync(after)
			case clusterNeedsSync(before, after):
				c.enqueue(cur)
			}
		},
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watching RedisClusters: %w", err)
	}
	owned := cache.ResourceEventHandlerFuncs{
		AddFunc: c.handleObject,
		UpdateFunc: func(old, cur interface{}) {
			if old.(metav1.Object).GetResourceVersion() == cur.(metav1.Object).GetResourceVersion() {
				return // a periodic resync; the owner's own resync covers it
			}
			c.handleObject(cur)
		},
		DeleteFunc: c.handleObject,
	}
	for name, inf := range map[string]cache.SharedIndexInformer{
		"pods": inf.Pods.Informer(), "services": inf.Services.Informer(), "persistentvolumeclaims": inf.Claims.Informer(),
		"poddisruptionbudgets": inf.Budgets.Informer(),
	} {
		if _, err := inf.AddEventHandler(owned); err != nil {
			return nil, fmt.Errorf("watching %s: %w", name, err)
		}
	}
	if _, err := inf.Secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.handleSecret,
		UpdateFunc: func(old, cur interface{}) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				c.handleSecret(cur)
			}
		},
		DeleteFunc: c.handleSecret,
	}); err != nil {
		return nil, fmt.Errorf("watching secrets: %w", err)
	}
	// A node being emptied (cordoned, or tainted by an autoscaler) starts a drain: every cluster
	// looks whether a master must move off it.
	if _, err := inf.Nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur interface{}) {
			if plan.Leaving(old.(*corev1.Node)) != plan.Leaving(cur.(*corev1.Node)) {
				c.enqueueAll()
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watching nodes: %w", err)
	}
	return c, nil
}

// enqueueAll syncs every cluster.
func (c *Controller) enqueueAll() {
	clusters, err := c.clusters.List(labels.Everything())
	if err != nil {
		return
	}
	for _, rc := range clusters {
		c.enqueue(rc)
	}
}

// enqueueResync takes the informer's periodic resync of a cluster as a health check, at a
// random moment within half a period: the informer hands every cluster over at once, and a
// change to one cluster waited behind the checks of all the others.
func (c *Controller) enqueueResync(rc *redisv1beta1.RedisCluster) {
	if c.resyncSpread <= 0 {
		c.enqueue(rc)
		return
	}
	c.queue.AddAfter(keyOf(rc), rand.N(c.resyncSpread))
}

// clusterNeedsSync ignores updates that only changed status (our own writes).
func clusterNeedsSync(old, cur *redisv1beta1.RedisCluster) bool {
	return old.Generation != cur.Generation ||
		!mapsEqual(old.Labels, cur.Labels) ||
		!mapsEqual(old.Annotations, cur.Annotations) ||
		!old.DeletionTimestamp.Equal(cur.DeletionTimestamp)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Run waits for the caches, starts the workers and blocks until ctx is done, then drains the
// queue so no sync is cut off half-way by a shutdown.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDownWithDrain()

	c.log.Info().Msg("waiting for informer caches to sync")
	if ok := cache.WaitForCacheSync(ctx.Done(), c.informersSynced...); !ok {
		return fmt.Errorf("informer caches did not sync")
	}
	c.tasks = ctx
	c.log.Info().Int("workers", workers).Msg("starting workers")
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.runWorker, time.Second)
	}
	<-ctx.Done()
	c.log.Info().Msg("shutting down workers")
	if !c.migrations.wait(c.shutdownGrace) {
		c.log.Warn().Dur("grace", c.shutdownGrace).Msg("migrations still running at shutdown; a later sync repairs their open slots")
	}
	return nil
}

// HasSynced reports whether every informer the controller reads from has synced.
func (c *Controller) HasSynced() bool {
	for _, synced := range c.informersSynced {
		if !synced() {
			return false
		}
	}
	return true
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextWorkItem(ctx) {
	}
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)

	started := time.Now()
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	err := c.syncHandler(syncCtx, key)
	cancel()
	c.metrics.observeReconcile(key.Namespace, started, err)
	if err == nil {
		c.queue.Forget(key)
		return true
	}
	c.log.Error().Err(err).Str("namespace", key.Namespace).Str("cluster", key.Name).
		Int("retries", c.queue.NumRequeues(key)).Msg("sync failed, requeuing")
	c.queue.AddRateLimited(key)
	return true
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func keyOf(rc *redisv1beta1.RedisCluster) cache.ObjectName {
	return cache.ObjectName{Namespace: rc.Namespace, Name: rc.Name}
}

// clusterFor returns the RedisCluster named by key, or nil when it no longer exists.
func (c *Controller) clusterFor(key cache.ObjectName) (*redisv1beta1.RedisCluster, error) {
	rc, err := c.clusters.RedisClusters(key.Namespace).Get(key.Name)
	if errors.IsNotFound(err) {
		return nil, nil
	}
	return rc, err
}

// maxEventMessage bounds an Event's message (the API's limit for events.k8s.io notes), so that
// an Event about a large cluster is still recorded.
const maxEventMessage = 1024

// recordEvent records an Event on the cluster and logs the same action once.
func (c *Controller) recordEvent(rc *redisv1beta1.RedisCluster, eventType, reason, format string, args ...interface{}) {
	c.recorder.Event(rc, eventType, reason, plan.BoundText(fmt.Sprintf(format, args...), maxEventMessage))
	level := zerolog.InfoLevel
	if eventType == corev1.EventTypeWarning {
		level = zerolog.WarnLevel
	}
	c.log.WithLevel(level).Str("namespace", rc.Namespace).Str("cluster", rc.Name).Str("reason", reason).
		Msgf(format, args...)
}
