package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

func TestRefusedClaimsMakeReadyFalseKeepingAnotherReason(t *testing.T) {
	const refused = "claims data-rc-0 cannot grow to 2Gi: forbidden"
	var status redisv1beta1.RedisClusterStatus
	SetCondition(&status, 2, redisv1beta1.ConditionReady, metav1.ConditionTrue, ReasonClusterHealthy, "healthy")
	Report(&status, 2, Outcome{ClaimsNotExpanded: refused}, time.Now())
	ready := meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionReady)
	require.Equal(t, metav1.ConditionFalse, ready.Status)
	require.Equal(t, ReasonClaimNotExpanded, ready.Reason)
	require.Equal(t, refused, ready.Message)

	SetCondition(&status, 2, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonReconciling, "1 replica missing")
	Report(&status, 2, Outcome{ClaimsNotExpanded: refused}, time.Now())
	ready = meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionReady)
	require.Equal(t, ReasonReconciling, ready.Reason)
	require.Equal(t, "1 replica missing; "+refused, ready.Message)
}
