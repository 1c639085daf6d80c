package httpapi

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	clientset "redis-operator/pkg/generated/clientset/versioned"
)

// ReasonAutoscaled is the Event reason of a masters change made by an alert.
const ReasonAutoscaled = "Autoscaled"

// ClientScaler changes spec.masters through the API server, retrying on conflicts with a fresh
// copy, and records an Event naming the alert.
type ClientScaler struct {
	Client   clientset.Interface
	Recorder record.EventRecorder
	Now      func() time.Time
}

// ScaleMasters implements Scaler.
func (s *ClientScaler) ScaleMasters(ctx context.Context, rc *redisv1beta1.RedisCluster,
	decide func(*redisv1beta1.RedisCluster) (int32, bool), cause string) error {
	clusters := s.Client.RedisV1beta1().RedisClusters(rc.Namespace)
	latest := rc
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		masters, ok := decide(latest)
		if !ok {
			return nil
		}
		from := latest.Spec.Masters
		updated, err := clusters.Update(ctx, markAutoscaled(latest, masters, s.Now()), metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, getErr := clusters.Get(ctx, rc.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			latest = fresh
			return err
		}
		if err != nil {
			return err
		}
		s.Recorder.Eventf(updated, corev1.EventTypeNormal, ReasonAutoscaled, "Masters %d -> %d by %s", from, masters, cause)
		return nil
	})
}
