package objects

import (
	"fmt"
	"strconv"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Pod labels the operator keeps in step with each node's place in Redis; the disruption budgets
// select on them.
const (
	// LabelRole is master or replica; a node that serves no shard has none.
	LabelRole = "redis.redis/role"
	// LabelShard is the shard a node serves: the rank of its master's first slot among the
	// masters', stable across failovers within the shard.
	LabelShard = "redis.redis/shard"
)

// MastersBudgetName is the budget that keeps every master's pod from eviction: a drain waits
// until the operator handed the role to a replica elsewhere.
func MastersBudgetName(rc *redisv1beta1.RedisCluster) string { return rc.Name + "-masters" }

// ShardBudgetName is the budget of shard k's replicas.
func ShardBudgetName(rc *redisv1beta1.RedisCluster, k int) string {
	return fmt.Sprintf("%s-shard-%d", rc.Name, k)
}

// MastersBudget selects the pods labelled master; minAvailable is their number, so none may go.
// A pod matches exactly one budget, as the eviction API requires. Budgets count pods with
// minAvailable: maxUnavailable would make the disruption controller count the pods the owner's
// scale asks for, which is the number of masters for every budget.
func MastersBudget(rc *redisv1beta1.RedisCluster, minAvailable int32) *policyv1.PodDisruptionBudget {
	return budget(rc, MastersBudgetName(rc), map[string]string{LabelRole: "master"}, minAvailable)
}

// ShardBudget selects shard k's replicas.
func ShardBudget(rc *redisv1beta1.RedisCluster, k int, minAvailable int32) *policyv1.PodDisruptionBudget {
	return budget(rc, ShardBudgetName(rc, k), map[string]string{LabelRole: "replica", LabelShard: strconv.Itoa(k)}, minAvailable)
}

func budget(rc *redisv1beta1.RedisCluster, name string, match map[string]string, minAvailable int32) *policyv1.PodDisruptionBudget {
	selector := map[string]string{LabelManagedBy: ManagedByValue, LabelInstance: rc.Name}
	for k, v := range match {
		selector[k] = v
	}
	least := intstr.FromInt32(minAvailable)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: ownedMeta(rc, name, nil),
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &least, Selector: &metav1.LabelSelector{MatchLabels: selector}},
	}
}
