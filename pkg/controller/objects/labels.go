package objects

import (
	"k8s.io/apimachinery/pkg/labels"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Labels on every object the operator creates for a cluster.
const (
	// LabelManagedBy marks objects the operator owns; its informers watch only these.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "redis-operator"
	// LabelName is the application name label.
	LabelName = "app.kubernetes.io/name"
	// LabelInstance carries the RedisCluster name.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelClusterName is the original operator's pod label; its dashboards and rules select on it.
	LabelClusterName = "clusterName"
)

// ManagedSelector selects every object the operator manages, across clusters.
func ManagedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
}

// ClusterLabels are the labels shared by all objects of one RedisCluster.
func ClusterLabels(rc *redisv1beta1.RedisCluster) labels.Set {
	return labels.Set{
		LabelName:        "redis",
		LabelInstance:    rc.Name,
		LabelManagedBy:   ManagedByValue,
		LabelClusterName: rc.Name,
	}
}

// ClusterSelector selects the objects of one RedisCluster.
func ClusterSelector(rc *redisv1beta1.RedisCluster) labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue, LabelInstance: rc.Name})
}
