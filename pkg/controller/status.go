package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// setCondition sets a condition on status, keeping its transition time when the status itself
// did not change, so recomputing an unchanged status gives an equal object.
func setCondition(status *redisv1beta1.RedisClusterStatus, generation int64, conditionType string,
	value metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             value,
		ObservedGeneration: generation,
		Reason:             reason,
		Message:            message,
	})
}

// updateStatus writes status through the status subresource when it differs from what the
// cluster already has; a steady state costs no API call. On a conflict it re-reads the cluster and
// writes the same status again: the operator owns every status field, and observedGeneration
// still names the generation the status was computed from.
func (c *Controller) updateStatus(ctx context.Context, rc *redisv1beta1.RedisCluster, status redisv1beta1.RedisClusterStatus) error {
	c.metrics.observeStatus(rc, &status)
	if equality.Semantic.DeepEqual(rc.Status, status) {
		return nil
	}
	clusters := c.redisClient.RedisV1beta1().RedisClusters(rc.Namespace)
	latest := rc
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		update := latest.DeepCopy()
		update.Status = status
		_, err := clusters.UpdateStatus(ctx, update, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh, getErr := clusters.Get(ctx, rc.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != rc.UID {
			return nil // deleted and re-created meanwhile: the new object gets its own sync
		}
		latest = fresh
		return err
	})
	if err != nil {
		return fmt.Errorf("updating status of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	return nil
}
