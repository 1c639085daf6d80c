// Package redis holds the API group name shared by every version of the redis.redis API.
package redis

// GroupName is the API group of RedisCluster. It is the original operator's group, kept so that
// manifests written for it apply unchanged.
const GroupName = "redis.redis"
