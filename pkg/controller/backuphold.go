package controller

import (
	"fmt"

	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	redisinformers "redis-operator/pkg/generated/informers/externalversions/redis/v1beta1"
)

// watchBackups syncs a cluster when one of its backups starts or ends streaming: slots do not
// move meanwhile.
func (c *Controller) watchBackups(inf redisinformers.RedisClusterBackupInformer) error {
	c.backups = inf.Lister()
	c.informersSynced = append(c.informersSynced, inf.Informer().HasSynced)
	phaseChanged := func(obj interface{}) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if b, ok := obj.(*redisv1beta1.RedisClusterBackup); ok {
			c.queue.Add(cache.ObjectName{Namespace: b.Namespace, Name: b.Spec.ClusterName})
		}
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: phaseChanged,
		UpdateFunc: func(old, cur interface{}) {
			if old.(*redisv1beta1.RedisClusterBackup).Status.Phase != cur.(*redisv1beta1.RedisClusterBackup).Status.Phase {
				phaseChanged(cur)
			}
		},
		DeleteFunc: phaseChanged,
	})
	if err != nil {
		return fmt.Errorf("watching RedisClusterBackups: %w", err)
	}
	return nil
}
