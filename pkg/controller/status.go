package controller

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	clientset "redis-operator/pkg/generated/clientset/versioned"
)

// minStatusInterval is the least time between two status writes of one cluster.
const minStatusInterval = 250 * time.Millisecond

// statusWriter is the one writer of clusters' status; only sync calls it, so no two writes of
// one cluster race. It writes through the status subresource when the status differs from the
// newest copy of the cluster it knows: the lister's, or the one its own last write returned
// when the informer has not caught up with it yet. A steady state costs no API call.
type statusWriter struct {
	client  clientset.Interface
	metrics *Metrics
	// interval is the least time between two writes of one cluster's status.
	interval time.Duration

	mu   sync.Mutex
	last map[cache.ObjectName]written
}

type written struct {
	cluster *redisv1beta1.RedisCluster
	at      time.Time
}

// write records status on rc. Within the interval of the cluster's last write it writes
// nothing and returns how long to wait before trying again. On a conflict it re-reads the
// cluster and writes the same status again: the operator owns every status field, and
// observedGeneration still names the generation the status was computed from.
func (w *statusWriter) write(ctx context.Context, rc *redisv1beta1.RedisCluster, status redisv1beta1.RedisClusterStatus,
	now time.Time) (time.Duration, error) {
	key := keyOf(rc)
	w.mu.Lock()
	last, ok := w.last[key]
	w.mu.Unlock()
	latest := rc
	if ok && last.cluster.UID == rc.UID && newerVersion(last.cluster.ResourceVersion, rc.ResourceVersion) {
		latest = last.cluster
	}
	w.metrics.observeStatus(rc, &status)
	if equality.Semantic.DeepEqual(latest.Status, status) {
		return 0, nil
	}
	if wait := w.interval - now.Sub(last.at); ok && wait > 0 {
		return wait, nil
	}
	clusters := w.client.RedisV1beta1().RedisClusters(rc.Namespace)
	var stored *redisv1beta1.RedisCluster
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		update := latest.DeepCopy()
		update.Status = status
		var err error
		stored, err = clusters.UpdateStatus(ctx, update, metav1.UpdateOptions{})
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
		return 0, fmt.Errorf("updating status of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	if stored != nil && stored.UID == rc.UID {
		w.mu.Lock()
		if w.last == nil {
			w.last = map[cache.ObjectName]written{}
		}
		w.last[key] = written{cluster: stored, at: now}
		w.mu.Unlock()
	}
	return 0, nil
}

// forget drops what the writer keeps of a deleted cluster.
func (w *statusWriter) forget(key cache.ObjectName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, key)
}

// newerVersion reports whether resource version a is newer than b. Versions are opaque to
// clients, but those of one object from one API server grow; one that does not parse is never
// taken as newer.
func newerVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
}
