package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/csaupgrade"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	applyv1beta1 "redis-operator/pkg/generated/applyconfiguration/redis/v1beta1"
	clientset "redis-operator/pkg/generated/clientset/versioned"
)

// minStatusInterval is the least time between two status writes of one cluster.
const minStatusInterval = 250 * time.Millisecond

// fieldManager owns every field of a cluster's status, applied whole each time.
const fieldManager = "redis-operator"

// statusWriter is the one writer of clusters' status; only sync calls it, so no two writes of
// one cluster race. It applies the status through the status subresource (server-side apply,
// forcing: the operator owns every status field) when it differs from what the cluster holds,
// as the lister shows it or, while the informer has not caught up with the last write, as that
// write left it. A steady state costs no API call.
type statusWriter struct {
	client  clientset.Interface
	metrics *Metrics
	// interval is the least time between two writes of one cluster's status.
	interval time.Duration

	mu   sync.Mutex
	last map[cache.ObjectName]written
	// upgraded maps each cluster whose status fields this process has taken over from an
	// operator that wrote them with updates (see takeOver) to the uid it did so for.
	upgraded map[cache.ObjectName]types.UID
}

// written is a cluster's last status write: the status, and the resource version the cluster
// had before it.
type written struct {
	uid    types.UID
	status redisv1beta1.RedisClusterStatus
	before string
	at     time.Time
}

// write records status on rc. Within the interval of the cluster's last write it writes
// nothing and returns how long to wait before trying again. A cluster deleted, or deleted and
// created again, meanwhile is left alone: the new object gets a sync of its own.
func (w *statusWriter) write(ctx context.Context, rc *redisv1beta1.RedisCluster, status redisv1beta1.RedisClusterStatus,
	now time.Time) (time.Duration, error) {
	key := keyOf(rc)
	w.mu.Lock()
	last, ok := w.last[key]
	w.mu.Unlock()
	ok = ok && last.uid == rc.UID
	w.metrics.observeStatus(rc, &status)
	if equality.Semantic.DeepEqual(rc.Status, status) {
		return 0, nil
	}
	// The lister still shows the cluster as it was before the last write, which wrote this.
	if ok && rc.ResourceVersion == last.before && equality.Semantic.DeepEqual(last.status, status) {
		return 0, nil
	}
	if wait := w.interval - now.Sub(last.at); ok && wait > 0 {
		return wait, nil
	}
	if err := w.takeOver(ctx, rc); err != nil {
		return 0, err
	}
	apply, err := statusApplyConfiguration(rc, status)
	if err != nil {
		return 0, err
	}
	_, err = w.client.RedisV1beta1().RedisClusters(rc.Namespace).ApplyStatus(ctx, apply,
		metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return 0, nil // gone, or another object of the name (its uid differs)
	case err != nil:
		return 0, fmt.Errorf("applying status of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	w.mu.Lock()
	if w.last == nil {
		w.last = map[cache.ObjectName]written{}
	}
	w.last[key] = written{uid: rc.UID, status: status, before: rc.ResourceVersion, at: now}
	w.mu.Unlock()
	return 0, nil
}

// latest is rc with the status this process last wrote while the lister still shows the cluster
// as it was before that write, else rc itself. A sync that started from the older status would
// plan from it, and a task started then would lose the record of what came before it.
func (w *statusWriter) latest(rc *redisv1beta1.RedisCluster) *redisv1beta1.RedisCluster {
	w.mu.Lock()
	last, ok := w.last[keyOf(rc)]
	w.mu.Unlock()
	if !ok || last.uid != rc.UID || rc.ResourceVersion != last.before {
		return rc
	}
	out := rc.DeepCopy()
	out.Status = *last.status.DeepCopy()
	return out
}

// statusApplyConfiguration is status as an apply request on rc, bound to rc's uid.
func statusApplyConfiguration(rc *redisv1beta1.RedisCluster, status redisv1beta1.RedisClusterStatus) (*applyv1beta1.RedisClusterApplyConfiguration, error) {
	raw, err := json.Marshal(status)
	if err != nil {
		return nil, err
	}
	var apply applyv1beta1.RedisClusterStatusApplyConfiguration
	if err := json.Unmarshal(raw, &apply); err != nil {
		return nil, fmt.Errorf("status of %s/%s as an apply configuration: %w", rc.Namespace, rc.Name, err)
	}
	return applyv1beta1.RedisCluster(rc.Name, rc.Namespace).WithUID(rc.UID).WithStatus(&apply), nil
}

// takeOver makes this process's field manager the owner of the status fields an earlier
// operator wrote with updates, once per cluster: applying leaves fields owned by another manager
// in place, so a status.migration an update wrote would outlive the migration.
func (w *statusWriter) takeOver(ctx context.Context, rc *redisv1beta1.RedisCluster) error {
	w.mu.Lock()
	done := w.upgraded[keyOf(rc)] == rc.UID
	w.mu.Unlock()
	if done {
		return nil
	}
	clusters := w.client.RedisV1beta1().RedisClusters(rc.Namespace)
	live, err := clusters.Get(ctx, rc.Name, metav1.GetOptions{}) // the lister's copy has no managed fields
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("reading %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(fieldManager), fieldManager, csaupgrade.Subresource("status"))
	if err != nil {
		return fmt.Errorf("taking over the status fields of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	if patch != nil {
		if _, err := clusters.Patch(ctx, rc.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("taking over the status fields of %s/%s: %w", rc.Namespace, rc.Name, err)
		}
	}
	w.mu.Lock()
	if w.upgraded == nil {
		w.upgraded = map[cache.ObjectName]types.UID{}
	}
	w.upgraded[keyOf(rc)] = live.UID
	w.mu.Unlock()
	return nil
}

// forget drops what the writer keeps of a deleted cluster.
func (w *statusWriter) forget(key cache.ObjectName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.upgraded, key)
	delete(w.last, key)
}
