package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Event reasons for Kubernetes objects the controller creates or removes.
const (
	ReasonCreatedPod     = "CreatedPod"
	ReasonDeletedPod     = "DeletedPod"
	ReasonCreatedClaim   = "CreatedClaim"
	ReasonCreatedService = "CreatedService"
	ReasonPortConflict   = "PortConflict"
)

// ensureExporterService creates the exporters' headless Service when it is missing.
func (c *Controller) ensureExporterService(ctx context.Context, rc *redisv1beta1.RedisCluster) error {
	want := desiredExporterService(rc)
	if _, err := c.services.Services(rc.Namespace).Get(want.Name); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	_, err := c.kubeClient.CoreV1().Services(rc.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating service %s: %w", want.Name, err)
	}
	c.recordEvent(rc, corev1.EventTypeNormal, ReasonCreatedService, "Created service %s", want.Name)
	return nil
}

// ensureNodePods creates the claim (with persistence) and the pod of every node index in indexes
// that has none in pods, the same snapshot the caller decided on. Names are fixed per index, so a
// create racing the informer only meets AlreadyExists. It returns pods with the new ones added.
func (c *Controller) ensureNodePods(ctx context.Context, rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod, indexes []int) (map[int]*corev1.Pod, error) {
	for _, index := range indexes {
		if _, ok := pods[index]; ok {
			continue
		}
		if rc.Spec.PersistenceEnabled() {
			if err := c.ensureClaim(ctx, rc, index); err != nil {
				return nil, err
			}
		}
		pod, err := c.kubeClient.CoreV1().Pods(rc.Namespace).Create(ctx, desiredPod(rc, index), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating pod of node %d: %w", index, err)
		}
		c.recordEvent(rc, corev1.EventTypeNormal, ReasonCreatedPod, "Created pod %s for node %d (port %d)",
			pod.Name, index, rc.Spec.NodePort(index))
		pods[index] = pod
	}
	return pods, nil
}

func (c *Controller) ensureClaim(ctx context.Context, rc *redisv1beta1.RedisCluster, index int) error {
	want := desiredClaim(rc, index)
	if _, err := c.claims.PersistentVolumeClaims(rc.Namespace).Get(want.Name); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	_, err := c.kubeClient.CoreV1().PersistentVolumeClaims(rc.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating claim %s: %w", want.Name, err)
	}
	c.recordEvent(rc, corev1.EventTypeNormal, ReasonCreatedClaim, "Created claim %s for node %d", want.Name, index)
	return nil
}

// clusterPods returns the cluster's pods by node index, skipping pods of another owner.
func (c *Controller) clusterPods(rc *redisv1beta1.RedisCluster) (map[int]*corev1.Pod, error) {
	list, err := c.pods.Pods(rc.Namespace).List(clusterSelector(rc))
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	pods := make(map[int]*corev1.Pod, len(list))
	for _, pod := range list {
		owner := metav1.GetControllerOf(pod)
		index, ok := NodeIndex(pod)
		if !ok || owner == nil || owner.UID != rc.UID {
			continue
		}
		pods[index] = pod
	}
	return pods, nil
}

// deleteNodePod removes the pod of a node the cluster no longer needs, or that must be replaced.
func (c *Controller) deleteNodePod(ctx context.Context, rc *redisv1beta1.RedisCluster, pod *corev1.Pod, why string) error {
	err := c.kubeClient.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	c.recordEvent(rc, corev1.EventTypeNormal, ReasonDeletedPod, "Deleted pod %s: %s", pod.Name, why)
	return nil
}

// checkPorts reports whether another, earlier cluster holds host ports rc would need.
func (c *Controller) checkPorts(rc *redisv1beta1.RedisCluster, runningNodes int) (string, bool, error) {
	others, err := c.clusters.List(labels.Everything())
	if err != nil {
		return "", false, err
	}
	ranges := func(other *redisv1beta1.RedisCluster) portRange {
		pods, err := c.clusterPods(other)
		if err != nil {
			return hostPorts(other, 0)
		}
		return hostPorts(other, maxIndex(pods)+1)
	}
	msg, conflict := portConflict(rc, hostPorts(rc, runningNodes), others, ranges)
	return msg, conflict, nil
}

func maxIndex(pods map[int]*corev1.Pod) int {
	highest := -1
	for index := range pods {
		highest = max(highest, index)
	}
	return highest
}
