package controller

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops"
)

// redisConnections keeps one redisops.Cluster (its connection pools) per RedisCluster, opened
// anew when the password changes and closed when the cluster goes away. A TLS cluster's
// connections take renewed credentials at their next handshake, without being reopened.
type redisConnections struct {
	connect func(tlsConfig *tls.Config, passwords ...string) redisops.Cluster

	mu        sync.Mutex
	byCluster map[cache.ObjectName]*connection
}

type connection struct {
	redis     redisops.Cluster
	passwords string
	// tls holds what the connections present and trust; nil for a plain cluster.
	tls *atomic.Pointer[redisops.TLSCredentials]
}

// get returns the connections of the cluster key, authenticating with the first of passwords a
// node takes, over TLS with creds when they are set.
func (r *redisConnections) get(key cache.ObjectName, passwords []string, creds *redisops.TLSCredentials) redisops.Cluster {
	joined := strings.Join(passwords, "\x00")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byCluster == nil {
		r.byCluster = map[cache.ObjectName]*connection{}
	}
	if c, ok := r.byCluster[key]; ok && c.passwords == joined && (c.tls != nil) == (creds != nil) {
		if creds != nil {
			c.tls.Store(creds)
		}
		return c.redis
	} else if ok {
		c.redis.Close()
	}
	c := &connection{passwords: joined}
	var config *tls.Config
	if creds != nil {
		c.tls = &atomic.Pointer[redisops.TLSCredentials]{}
		c.tls.Store(creds)
		config = redisops.TLSConfig(c.tls.Load)
	}
	c.redis = r.connect(config, passwords...)
	r.byCluster[key] = c
	return c.redis
}

// tlsCredentials are the credentials the cluster key's connections present, nil for none.
func (r *redisConnections) tlsCredentials(key cache.ObjectName) *redisops.TLSCredentials {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byCluster[key]; ok && c.tls != nil {
		return c.tls.Load()
	}
	return nil
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
	password, err := c.secretKey(rc.Namespace, *ref)
	if err != nil {
		return "", fmt.Errorf("passwordSecret: %w", err)
	}
	return password, nil
}
