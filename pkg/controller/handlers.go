package controller

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
)

// handleObject maps an owned object back to the RedisCluster that controls it.
func (c *Controller) handleObject(obj interface{}) {
	object, ok := obj.(metav1.Object)
	if !ok {
		tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			utilruntime.HandleError(fmt.Errorf("decoding object: unexpected type %T", obj))
			return
		}
		if object, ok = tombstone.Obj.(metav1.Object); !ok {
			utilruntime.HandleError(fmt.Errorf("decoding tombstone: unexpected type %T", tombstone.Obj))
			return
		}
	}
	owner := metav1.GetControllerOf(object)
	if owner == nil || owner.Kind != "RedisCluster" || owner.APIVersion != redisv1beta1.SchemeGroupVersion.String() {
		return
	}
	rc, err := c.clusters.RedisClusters(object.GetNamespace()).Get(owner.Name)
	if err != nil || rc.UID != owner.UID {
		return // the owner is gone or was replaced; garbage collection takes care of the object
	}
	c.enqueue(rc)
}

// handleSecret enqueues the clusters whose password, config, TLS certificate or a user's
// password is in the Secret.
func (c *Controller) handleSecret(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	secret, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	clusters, err := c.clusters.RedisClusters(secret.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rc := range clusters {
		name := secret.GetName()
		ref, tls := rc.Spec.PasswordSecret, rc.Spec.TLS
		if (ref != nil && ref.Name == name) || objects.ConfigSecretName(rc) == name ||
			((tls != nil || rc.RunsTLS()) && (objects.TLSSecretName(rc) == name || objects.NodeCertificateSecretName(rc) == name || objects.TLSCASecretName(rc) == name)) ||
			slices.ContainsFunc(rc.Spec.Users, func(u redisv1beta1.UserSpec) bool { return u.PasswordSecret.Name == name }) {
			c.enqueue(rc)
		}
	}
}
