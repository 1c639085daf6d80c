package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
)

// checkTimeout bounds the Redis reads of one check, well within the webhook's write timeout.
const checkTimeout = 20 * time.Second

// CheckMasters says why the cluster namespace/name cannot run with masters: a scale-out onto
// host ports another cluster's pods hold, or a scale-in whose remaining masters would not hold
// the keys within their maxmemory. It returns nil when the change fits, or when the cluster is
// not known or cannot tell. The Alertmanager webhook asks before it changes spec.masters.
//
// It reads the cluster now, from the informers' caches and from its Redis nodes, with
// connections of its own, and keeps nothing: every replica of the operator answers alike,
// leading or not.
func (c *Controller) CheckMasters(ctx context.Context, namespace, name string, masters int32) error {
	rc, err := c.clusters.RedisClusters(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if masters > rc.Spec.Masters {
		pods, err := c.clusterPods(rc)
		if err != nil {
			return err
		}
		wanted := rc.DeepCopy()
		wanted.Spec.Masters = masters
		held, err := c.portsHeldElsewhere(wanted, pods)
		if err != nil || len(held) == 0 {
			return err
		}
		return errors.New(plan.HeldMessage(held))
	}
	if masters == rc.Spec.Masters {
		return nil
	}
	password, err := c.passwordOf(rc)
	if err != nil {
		return err
	}
	o, err := c.observeObjects(rc, password)
	if err != nil || o.PortConflict != "" {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var tlsConfig *tls.Config
	if cert := c.nodeCertificateOf(rc); cert != nil {
		if cert.creds == nil {
			return cert.refused
		}
		tlsConfig = tlsConfigOf(linkCredentials(rc, cert))
	}
	redis := c.redis.connect(tlsConfig, objects.Passwords(c.configSecret(rc), password)...)
	defer redis.Close()
	observeRedis(ctx, redis, o)
	c.readSlotMemory(ctx, redis, o, masters)
	if why := plan.MemoryRefusal(o, masters); why != "" {
		return errors.New(why)
	}
	return nil
}
