package plan

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// SetCondition sets a condition on status, keeping its transition time when the status itself
// did not change, so recomputing an unchanged status gives an equal object.
func SetCondition(status *redisv1beta1.RedisClusterStatus, generation int64, conditionType string,
	value metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             value,
		ObservedGeneration: generation,
		Reason:             reason,
		Message:            message,
	})
}

// BoundText cuts text longer than limit bytes at the last separator (", ", "; " or ",") that
// fits and says how much was left out.
func BoundText(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	suffix := fmt.Sprintf(" ... and %d more bytes", len(text))
	cut := text[:limit-len(suffix)]
	if i := strings.LastIndexAny(cut, ",;"); i > 0 {
		cut = cut[:i]
	}
	return cut + fmt.Sprintf(" ... and %d more bytes", len(text)-len(cut))
}
