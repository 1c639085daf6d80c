// Package backups reconciles RedisClusterBackups: every shard is streamed at once by a Job of the
// operator's own image, and the manifest is written once every shard's snapshot is in the store.
// It also takes the backups a cluster's schedule asks for, and prunes the oldest.
package backups

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	clientset "redis-operator/pkg/generated/clientset/versioned"
	redisinformers "redis-operator/pkg/generated/informers/externalversions/redis/v1beta1"
	redislisters "redis-operator/pkg/generated/listers/redis/v1beta1"
)

// item is a queued key: a backup to reconcile, or a cluster whose schedule to check.
type item struct {
	schedule bool
	key      cache.ObjectName
}

// Controller reconciles backups and schedules.
type Controller struct {
	kube     kubernetes.Interface
	redis    clientset.Interface
	backups  redislisters.RedisClusterBackupLister
	clusters redislisters.RedisClusterLister
	jobs     batchlisters.JobLister
	secrets  corelisters.SecretLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[item]
	recorder record.EventRecorder
	log      zerolog.Logger
	cfg      Config
}

// Config holds what the backups need besides the API.
type Config struct {
	// Image is the operator's own image, which the shards' Jobs run.
	Image string
	// Open connects to a destination's store (OpenS3 when nil).
	Open Opener
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Credentials are a destination's keys and the CA its endpoint is checked against.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
	CA                           []byte
}

// Informers are what the controller reads from.
type Informers struct {
	Backups  redisinformers.RedisClusterBackupInformer
	Clusters redisinformers.RedisClusterInformer
	Jobs     batchinformers.JobInformer
	Secrets  coreinformers.SecretInformer
}

// New wires the controller to its informers.
func New(kube kubernetes.Interface, redis clientset.Interface, inf Informers, recorder record.EventRecorder,
	log zerolog.Logger, cfg Config) (*Controller, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{
		kube: kube, redis: redis,
		backups: inf.Backups.Lister(), clusters: inf.Clusters.Lister(), jobs: inf.Jobs.Lister(), secrets: inf.Secrets.Lister(),
		synced: []cache.InformerSynced{inf.Backups.Informer().HasSynced, inf.Clusters.Informer().HasSynced,
			inf.Jobs.Informer().HasSynced, inf.Secrets.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[item](),
			workqueue.TypedRateLimitingQueueConfig[item]{Name: "redisclusterbackups"}),
		recorder: recorder, log: log, cfg: cfg,
	}
	backup := func(obj interface{}) {
		if key, err := cache.DeletionHandlingObjectToName(obj); err == nil {
			c.queue.Add(item{key: key})
		}
	}
	if _, err := inf.Backups.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: backup, UpdateFunc: func(_, cur interface{}) { backup(cur) }, DeleteFunc: backup,
	}); err != nil {
		return nil, fmt.Errorf("watching RedisClusterBackups: %w", err)
	}
	// A Job's end moves its backup on.
	job := func(obj interface{}) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if o, ok := obj.(interface {
			GetAnnotations() map[string]string
			GetNamespace() string
		}); ok {
			if name := o.GetAnnotations()[annotationBackup]; name != "" {
				c.queue.Add(item{key: cache.ObjectName{Namespace: o.GetNamespace(), Name: name}})
			}
		}
	}
	if _, err := inf.Jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: job, UpdateFunc: func(_, cur interface{}) { job(cur) }, DeleteFunc: job,
	}); err != nil {
		return nil, fmt.Errorf("watching Jobs: %w", err)
	}
	// A cluster's schedule, and its backups waiting for it to be steady.
	if _, err := inf.Clusters.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.clusterChanged,
		UpdateFunc: func(_, cur interface{}) { c.clusterChanged(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watching RedisClusters: %w", err)
	}
	return c, nil
}

func (c *Controller) clusterChanged(obj interface{}) {
	rc, ok := obj.(*redisv1beta1.RedisCluster)
	if !ok {
		return
	}
	if rc.Spec.Backup != nil && rc.Spec.Backup.Schedule != "" {
		c.queue.Add(item{schedule: true, key: cache.ObjectName{Namespace: rc.Namespace, Name: rc.Name}})
	}
	backups, err := c.backups.RedisClusterBackups(rc.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, b := range backups {
		if b.Spec.ClusterName == rc.Name && (b.Status.Phase == "" || b.Status.Phase == redisv1beta1.BackupPending) {
			c.queue.Add(item{key: cache.ObjectName{Namespace: b.Namespace, Name: b.Name}})
		}
	}
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("backup informer caches did not sync")
	}
	c.log.Info().Int("workers", workers).Msg("starting backup workers")
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for c.processNext(ctx) {
			}
		}, time.Second)
	}
	<-ctx.Done()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	it, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(it)
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var requeue time.Duration
	var err error
	if it.schedule {
		requeue, err = c.syncSchedule(syncCtx, it.key)
	} else {
		requeue, err = c.syncBackup(syncCtx, it.key)
	}
	if err != nil {
		c.log.Error().Err(err).Str("namespace", it.key.Namespace).Str("name", it.key.Name).Bool("schedule", it.schedule).
			Msg("backup sync failed, requeuing")
		c.queue.AddRateLimited(it)
		return true
	}
	c.queue.Forget(it)
	if requeue > 0 {
		c.queue.AddAfter(it, requeue)
	}
	return true
}
