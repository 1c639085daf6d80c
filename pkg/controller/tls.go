package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops"
)

// tlsKeys are the keys of a TLS Secret the nodes load.
var tlsKeys = []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, objects.TLSCAKey}

// nodeCertificate is what a sync knows of a TLS cluster's certificate.
type nodeCertificate struct {
	// creds are what the operator presents to the nodes and trusts in them.
	creds *redisops.TLSCredentials
	// files are the user's Secret's, checked, for the node-certificate Secret; nil when refused.
	files map[string][]byte
	// loaded is the node-certificate Secret, nil before it exists.
	loaded *corev1.Secret
	// refused says why the user's Secret cannot be used; creds are then the ones the nodes were
	// given last, if any.
	refused error
}

// nodeCertificateOf reads rc's TLS Secrets from the informer's cache; nil for a plain cluster.
// The user's Secret is used when its certificate is one a node can load and that the nodes and
// the certificate they were given last trust each other with (no CA changed in one step).
func (c *Controller) nodeCertificateOf(rc *redisv1beta1.RedisCluster) *nodeCertificate {
	if rc.Spec.TLS == nil {
		return nil
	}
	now := time.Now()
	out := &nodeCertificate{}
	if loaded, err := c.secrets.Secrets(rc.Namespace).Get(objects.NodeCertificateSecretName(rc)); err == nil {
		out.loaded = loaded
		if owner := metav1.GetControllerOf(loaded); owner != nil && owner.UID == rc.UID {
			out.creds, _ = parseTLSSecret(loaded, now)
		}
	}
	if out.creds == nil {
		out.creds = c.redis.tlsCredentials(keyOf(rc))
	}
	name := rc.Spec.TLS.SecretName
	secret, err := c.secrets.Secrets(rc.Namespace).Get(name)
	if err != nil {
		out.refused = fmt.Errorf("reading TLS secret %s: %w", name, err)
		return out
	}
	creds, err := parseTLSSecret(secret, now)
	if err == nil && out.creds != nil {
		err = creds.Follows(out.creds, now)
	}
	if err != nil {
		out.refused = fmt.Errorf("TLS secret %s: %w", name, err)
		return out
	}
	out.creds, out.files = creds, map[string][]byte{}
	for _, key := range tlsKeys {
		out.files[key] = secret.Data[key]
	}
	return out
}

func parseTLSSecret(secret *corev1.Secret, now time.Time) (*redisops.TLSCredentials, error) {
	return redisops.ParseTLSCredentials(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey],
		secret.Data[objects.TLSCAKey], now)
}

// writeNodeCertificate puts the checked files in the node-certificate Secret when they differ
// from what it holds.
func (c *Controller) writeNodeCertificate(ctx context.Context, rc *redisv1beta1.RedisCluster, cert *nodeCertificate) error {
	if cert == nil || cert.files == nil {
		return nil
	}
	if cert.loaded != nil {
		same := true
		for _, key := range tlsKeys {
			same = same && bytes.Equal(cert.loaded.Data[key], cert.files[key])
		}
		if same {
			return nil
		}
	}
	return c.writeOwnedSecret(ctx, rc, objects.NodeCertificateSecret(rc, cert.files), cert.loaded)
}

// tlsConfigOf is a TLS client configuration of creds, nil for none.
func tlsConfigOf(creds *redisops.TLSCredentials) *tls.Config {
	if creds == nil {
		return nil
	}
	return redisops.TLSConfig(func() *redisops.TLSCredentials { return creds })
}
