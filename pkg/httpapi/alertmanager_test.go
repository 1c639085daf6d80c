package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

func TestDecodePayload(t *testing.T) {
	valid := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighMemoryUsage","redis_cluster":"rc1"},"annotations":{},"fingerprint":"abc","startsAt":"2026-11-24T00:00:00Z"}]}`
	cases := []struct {
		name, body, wantErr string
	}{
		{"valid", valid, ""},
		{"no alerts yet", `{"version":"4","status":"resolved","alerts":[]}`, ""},
		{"not JSON", `alerts: []`, "not JSON"},
		{"empty body", ``, "not JSON"},
		{"two values", valid + valid, "more than one JSON value"},
		{"array instead of object", `[1,2]`, "not JSON"},
		{"other version", `{"version":"5","alerts":[]}`, "version"},
		{"missing alerts", `{"version":"4","status":"firing"}`, `"alerts" is missing`},
		{"bad alert status", `{"alerts":[{"status":"burning","labels":{"alertname":"X"}}]}`, `alerts[0].status`},
		{"missing alertname", `{"alerts":[{"status":"firing","labels":{}}]}`, `alertname is missing`},
		{"wrong type", `{"alerts":[{"status":"firing","labels":{"alertname":3}}]}`, "not JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := decodePayload(strings.NewReader(tc.body))
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, payload.Alerts)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestDecodePayloadTooLarge(t *testing.T) {
	body := `{"alerts":[],"pad":"` + strings.Repeat("x", maxWebhookBody) + `"}`
	_, err := decodePayload(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), maxWebhookBody))
	var tooBig *http.MaxBytesError
	require.ErrorAs(t, err, &tooBig)
}

func TestAlertMapping(t *testing.T) {
	require.Equal(t, 1, scaleDirection("HighMemoryUsage"))
	require.Equal(t, 1, scaleDirection("RedisHighThroughput"))
	require.Equal(t, -1, scaleDirection("LowMemoryUsage"))
	require.Equal(t, -1, scaleDirection("RedisLowThroughput"))
	require.Equal(t, 0, scaleDirection("HighLatency"))
	require.Equal(t, 0, scaleDirection("XHighMemoryUsage"), "names match whole, not by substring")

	name, ns := alertCluster(Alert{Labels: map[string]string{"rediscluster": "a", "cluster": "b", "namespace": "cache"}})
	require.Equal(t, "a", name)
	require.Equal(t, "cache", ns)
	name, _ = alertCluster(Alert{Labels: map[string]string{"cluster": "b"}})
	require.Equal(t, "b", name)

	require.EqualValues(t, 1, scaleStep(Alert{}))
	require.EqualValues(t, 2, scaleStep(Alert{Annotations: map[string]string{"scale_count": "2"}}))
	require.EqualValues(t, 1, scaleStep(Alert{Annotations: map[string]string{"scale_count": "-2"}}))
	require.EqualValues(t, 1, scaleStep(Alert{Annotations: map[string]string{"scale_count": "two"}}))
}

func clusterForDecision(masters int32) *redisv1beta1.RedisCluster {
	return &redisv1beta1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "rc1", Namespace: "cache", Generation: 2},
		Spec:       redisv1beta1.RedisClusterSpec{Masters: masters},
		Status:     redisv1beta1.RedisClusterStatus{ObservedGeneration: 2},
	}
}

func TestDecideScale(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	recently := metav1.NewTime(now.Add(-time.Minute))
	longAgo := metav1.NewTime(now.Add(-time.Hour))

	cases := []struct {
		name      string
		masters   int32
		direction int
		step      int32
		mutate    func(*redisv1beta1.RedisCluster)
		wantTo    int32
		wantSkip  string
	}{
		{"up", 3, 1, 1, nil, 4, ""},
		{"up by two", 3, 1, 2, nil, 5, ""},
		{"down", 5, -1, 1, nil, 4, ""},
		{"down stops at three", 4, -1, 3, nil, 3, ""},
		{"down at three", 3, -1, 1, nil, 3, SkipBound},
		{"down at minMasters", 5, -1, 1, func(rc *redisv1beta1.RedisCluster) { rc.Spec.MinMasters = ptr.To[int32](5) }, 5, SkipBound},
		{"up clamped to maxMasters", 5, 1, 3, func(rc *redisv1beta1.RedisCluster) { rc.Spec.MaxMasters = ptr.To[int32](6) }, 6, ""},
		{"up at maxMasters", 6, 1, 1, func(rc *redisv1beta1.RedisCluster) { rc.Spec.MaxMasters = ptr.To[int32](6) }, 6, SkipBound},
		{"cooldown from status", 3, 1, 1, func(rc *redisv1beta1.RedisCluster) { rc.Status.LastScaleTime = &recently }, 3, SkipCooldown},
		{"cooldown over", 3, 1, 1, func(rc *redisv1beta1.RedisCluster) { rc.Status.LastScaleTime = &longAgo }, 4, ""},
		{"custom short cooldown", 3, 1, 1, func(rc *redisv1beta1.RedisCluster) {
			rc.Status.LastScaleTime = &recently
			rc.Spec.ScaleCooldown = &metav1.Duration{Duration: 30 * time.Second}
		}, 4, ""},
		{"cooldown from the webhook's own annotation", 3, 1, 1, func(rc *redisv1beta1.RedisCluster) {
			rc.Status.LastScaleTime = &longAgo
			rc.Annotations = map[string]string{AnnotationLastAutoscale: now.Add(-time.Minute).Format(time.RFC3339)}
		}, 3, SkipCooldown},
		{"spec change not yet observed", 3, -1, 1, func(rc *redisv1beta1.RedisCluster) { rc.Generation = 3 }, 3, SkipScaling},
		{"migration under way", 4, -1, 1, func(rc *redisv1beta1.RedisCluster) {
			rc.Status.Migration = &redisv1beta1.MigrationStatus{SlotsPlanned: 10}
		}, 4, SkipScaling},
		{"scaling condition", 4, 1, 1, func(rc *redisv1beta1.RedisCluster) {
			rc.Status.Conditions = []metav1.Condition{{Type: redisv1beta1.ConditionScaling, Status: metav1.ConditionTrue}}
		}, 4, SkipScaling},
		{"rolling update", 3, 1, 1, func(rc *redisv1beta1.RedisCluster) {
			rc.Status.Conditions = []metav1.Condition{{Type: redisv1beta1.ConditionUpdating, Status: metav1.ConditionTrue}}
		}, 3, SkipUpdating},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := clusterForDecision(tc.masters)
			if tc.mutate != nil {
				tc.mutate(rc)
			}
			to, skip := decideScale(rc, tc.direction, tc.step, now)
			require.Equal(t, tc.wantTo, to)
			if tc.wantSkip == "" {
				require.Empty(t, skip)
			} else {
				require.True(t, strings.HasPrefix(skip, tc.wantSkip), "skip reason %q", skip)
			}
		})
	}
}
