package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
)

// createExporterService creates the exporters' headless Service.
func (c *Controller) createExporterService(ctx context.Context, rc *redisv1beta1.RedisCluster) error {
	want := objects.ExporterService(rc)
	_, err := c.kubeClient.CoreV1().Services(rc.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating service %s: %w", want.Name, err)
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonCreatedService, "Created service %s", want.Name)
	return nil
}

// writeOwnedSecret creates one of the cluster's Secrets (want) or brings its data up to date. A Secret
// of that name the cluster does not own is left alone: the pods cannot start without theirs.
func (c *Controller) writeOwnedSecret(ctx context.Context, rc *redisv1beta1.RedisCluster, want *corev1.Secret, existing *corev1.Secret) error {
	secrets := c.kubeClient.CoreV1().Secrets(rc.Namespace)
	if existing == nil {
		_, err := secrets.Create(ctx, want, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating secret %s: %w", want.Name, err)
		}
		return nil
	}
	if owner := metav1.GetControllerOf(existing); owner == nil || owner.UID != rc.UID {
		return fmt.Errorf("secret %s exists and is not this cluster's: rename or delete it", existing.Name)
	}
	update := existing.DeepCopy()
	update.Data = want.Data
	if _, err := secrets.Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating secret %s: %w", want.Name, err)
	}
	return nil
}

// createNodePod creates the pod of node index. Names are fixed per index, so a create racing
// the informer only meets AlreadyExists.
func (c *Controller) createNodePod(ctx context.Context, rc *redisv1beta1.RedisCluster, index int, annotations map[string]string) error {
	want := objects.Pod(rc, index)
	for k, v := range annotations {
		want.Annotations[k] = v
	}
	if err := c.restorePod(rc, want, index); err != nil {
		return err
	}
	pod, err := c.kubeClient.CoreV1().Pods(rc.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating pod of node %d: %w", index, err)
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonCreatedPod, "Created pod %s for node %d (port %d)",
		pod.Name, index, rc.Spec.NodePort(index))
	return nil
}

// createClaim creates the data claim of node index.
func (c *Controller) createClaim(ctx context.Context, rc *redisv1beta1.RedisCluster, index int) error {
	want := objects.Claim(rc, index)
	_, err := c.kubeClient.CoreV1().PersistentVolumeClaims(rc.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating claim %s: %w", want.Name, err)
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonCreatedClaim, "Created claim %s for node %d", want.Name, index)
	return nil
}

// clusterPods returns the cluster's pods by node index, skipping pods of another owner.
func (c *Controller) clusterPods(rc *redisv1beta1.RedisCluster) (map[int]*corev1.Pod, error) {
	list, err := c.pods.Pods(rc.Namespace).List(objects.ClusterSelector(rc))
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	pods := make(map[int]*corev1.Pod, len(list))
	for _, pod := range list {
		owner := metav1.GetControllerOf(pod)
		index, ok := objects.NodeIndex(pod)
		if !ok || owner == nil || owner.UID != rc.UID {
			continue
		}
		pods[index] = pod
	}
	return pods, nil
}

func maxIndex(pods map[int]*corev1.Pod) int {
	highest := -1
	for index := range pods {
		highest = max(highest, index)
	}
	return highest
}

// expandClaims grows the claims to the spec's size. The API server refuses it where the storage
// class does not allow expansion: that refusal is returned as text for the status, not as an
// error, so that nothing else in the sync waits on it. Other errors are returned once every
// claim was tried.
func (c *Controller) expandClaims(ctx context.Context, rc *redisv1beta1.RedisCluster, claims map[int]string) (string, error) {
	indexes := make([]int, 0, len(claims))
	for index := range claims {
		indexes = append(indexes, index)
	}
	sort.Ints(indexes)
	size := rc.Spec.PersistenceSize()
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size.String())
	var refused []string
	var firstRefusal, failed error
	for _, index := range indexes {
		_, err := c.kubeClient.CoreV1().PersistentVolumeClaims(rc.Namespace).Patch(ctx, claims[index], types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
			refused = append(refused, claims[index])
			if firstRefusal == nil {
				firstRefusal = err
			}
		case err != nil:
			if failed == nil {
				failed = fmt.Errorf("expanding claim %s: %w", claims[index], err)
			}
		default:
			c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonExpandedClaim, "Claim %s of node %d grows to %s", claims[index], index, size.String())
		}
	}
	if len(refused) == 0 {
		return "", failed
	}
	return plan.BoundText(fmt.Sprintf("claims %s cannot grow to %s: %v", strings.Join(refused, ", "), size.String(), firstRefusal),
		plan.MaxConditionMessage/2), failed
}

// deleteUnusedClaims deletes claims left unused while persistence is off: their nodes.conf and
// append-only file name nodes the cluster has forgotten since.
func (c *Controller) deleteUnusedClaims(ctx context.Context, rc *redisv1beta1.RedisCluster, names []string) error {
	var failed error
	for _, name := range names {
		err := c.kubeClient.CoreV1().PersistentVolumeClaims(rc.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			failed = errors.Join(failed, fmt.Errorf("deleting unused claim %s: %w", name, err))
		default:
			c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonDeletedClaim, "Deleted claim %s: persistence is off and no pod mounts it", name)
		}
	}
	return failed
}

// writeBudgets creates or updates the cluster's disruption budgets and deletes those of shards
// that are gone.
func (c *Controller) writeBudgets(ctx context.Context, rc *redisv1beta1.RedisCluster, write []*policyv1.PodDisruptionBudget, remove []string) error {
	budgets := c.kubeClient.PolicyV1().PodDisruptionBudgets(rc.Namespace)
	for _, b := range write {
		_, err := budgets.Create(ctx, b, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			patch, _ := json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"minAvailable": b.Spec.MinAvailable.IntVal}})
			_, err = budgets.Patch(ctx, b.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil {
			return fmt.Errorf("writing disruption budget %s: %w", b.Name, err)
		}
	}
	for _, name := range remove {
		if err := budgets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting disruption budget %s: %w", name, err)
		}
	}
	return nil
}

// setLabels sets a node pod's role and shard labels; an empty value removes the label. A pod
// gone meanwhile is labelled when it is created again.
func (c *Controller) setLabels(ctx context.Context, rc *redisv1beta1.RedisCluster, a plan.LabelPod) error {
	if err := c.patchPodMetadata(ctx, rc, a.Pod, "labels", a.Labels); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// patchPodMetadata merges values into the labels or annotations (field) of a node's pod, with
// one merge patch; an empty value removes its key.
func (c *Controller) patchPodMetadata(ctx context.Context, rc *redisv1beta1.RedisCluster, pod, field string, values map[string]string) error {
	merged := make(map[string]interface{}, len(values))
	for k, v := range values {
		if v == "" {
			merged[k] = nil
		} else {
			merged[k] = v
		}
	}
	patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{field: merged}}) // maps of strings always encode
	if _, err := c.kubeClient.CoreV1().Pods(rc.Namespace).Patch(ctx, pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("writing the %s of pod %s: %w", field, pod, err)
	}
	return nil
}
