package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Reasons of the Ready condition.
const (
	ReasonProvisioning = "Provisioning"
)

// sync reconciles one RedisCluster from the listers. It never modifies objects from the cache.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	rc, err := c.clusterFor(key)
	if err != nil {
		return err
	}
	if rc == nil {
		c.log.Debug().Str("namespace", key.Namespace).Str("cluster", key.Name).Msg("cluster deleted")
		return nil
	}
	pods, err := c.pods.Pods(rc.Namespace).List(clusterSelector(rc))
	if err != nil {
		return fmt.Errorf("listing pods of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	return c.updateStatus(ctx, rc, observedStatus(rc, pods))
}

// observedStatus derives the cluster's status from the objects the listers hold.
func observedStatus(rc *redisv1beta1.RedisCluster, pods []*corev1.Pod) redisv1beta1.RedisClusterStatus {
	status := *rc.Status.DeepCopy()
	status.ObservedGeneration = rc.Generation
	status.Selector = clusterSelector(rc).String()

	want := int(rc.Spec.Masters) * (1 + int(rc.Spec.Replicas))
	running := 0
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil {
			running++
		}
	}
	setCondition(&status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonProvisioning,
		fmt.Sprintf("%d of %d Redis nodes are running", running, want))
	return status
}
