package controller

import (
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops"
)

// redisConnections keeps one redisops.Cluster (its connection pools) per RedisCluster, opened
// anew when the password changes and closed when the cluster goes away.
type redisConnections struct {
	connect func(passwords ...string) redisops.Cluster

	mu        sync.Mutex
	byCluster map[cache.ObjectName]*connection
}

type connection struct {
	redis     redisops.Cluster
	passwords string
}

// get returns the connections of the cluster key, authenticating with the first of passwords a
// node takes.
func (r *redisConnections) get(key cache.ObjectName, passwords []string) redisops.Cluster {
	joined := strings.Join(passwords, "\x00")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byCluster == nil {
		r.byCluster = map[cache.ObjectName]*connection{}
	}
	if c, ok := r.byCluster[key]; ok && c.passwords == joined {
		return c.redis
	} else if ok {
		c.redis.Close()
	}
	c := &connection{redis: r.connect(passwords...), passwords: joined}
	r.byCluster[key] = c
	return c.redis
}

// close drops a deleted cluster's connections.
func (r *redisConnections) close(key cache.ObjectName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byCluster[key]; ok {
		c.redis.Close()
		delete(r.byCluster, key)
	}
}

// configSecret is rc's config Secret from the informer's cache, nil before it exists.
func (c *Controller) configSecret(rc *redisv1beta1.RedisCluster) *corev1.Secret {
	secret, err := c.secrets.Secrets(rc.Namespace).Get(objects.ConfigSecretName(rc))
	if err != nil {
		return nil
	}
	return secret
}

// passwordOf returns the password rc's Secret holds (read from the informer's cache), or "" when
// the cluster has none.
func (c *Controller) passwordOf(rc *redisv1beta1.RedisCluster) (string, error) {
	ref := rc.Spec.PasswordSecret
	if ref == nil {
		return "", nil
	}
	secret, err := c.secrets.Secrets(rc.Namespace).Get(ref.Name)
	if err != nil {
		return "", fmt.Errorf("reading password secret %s: %w", ref.Name, err)
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("password secret %s has no key %s", ref.Name, ref.Key)
	}
	return string(value), nil
}
