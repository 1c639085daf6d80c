// Package testcluster holds what the controller's tests share across its packages.
package testcluster

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Cluster is a 3x1 RedisCluster in namespace cache, as the API server would return it.
func Cluster(name string) *redisv1beta1.RedisCluster {
	return &redisv1beta1.RedisCluster{
		TypeMeta: metav1.TypeMeta{APIVersion: redisv1beta1.SchemeGroupVersion.String(), Kind: "RedisCluster"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "cache", UID: types.UID(name + "-uid"), Generation: 1, ResourceVersion: "1",
		},
		Spec: redisv1beta1.RedisClusterSpec{
			Image: "awbrg789/redis:latest", Masters: 3, Replicas: 1, BasePort: 10000, MaxMemory: "512mb",
		},
	}
}
