// Package v1beta1 is version v1beta1 of the redis.redis API: the RedisCluster resource.
//
// +k8s:deepcopy-gen=package
// +groupName=redis.redis
package v1beta1
