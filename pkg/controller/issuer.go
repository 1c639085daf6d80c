package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/certs"
	"redis-operator/pkg/controller/objects"
)

// caValidity is how long a CA the operator makes lasts.
const caValidity = 10 * 365 * 24 * time.Hour

// backdate is how far a certificate's validity starts before now, for clocks a little behind.
const backdate = time.Hour

// issueCertificate makes the certificate of a TLS cluster without a spec.tls.secretName: a CA
// of its own, made once, and a node certificate it signs, made again once a third of its
// validity is left or when it is missing or unusable. The certificate then comes to the nodes as
// a user's Secret does, renewals live. wrote says it wrote a Secret: the sync its event brings
// goes on from there; otherwise renewIn is when the certificate is to be renewed.
func (c *Controller) issueCertificate(ctx context.Context, rc *redisv1beta1.RedisCluster) (wrote bool, renewIn time.Duration, err error) {
	if rc.Spec.TLS == nil || rc.Spec.TLS.SecretName != "" {
		return false, 0, nil
	}
	now := time.Now()
	ca, made, err := c.clusterCA(ctx, rc, now)
	if err != nil {
		return false, 0, err
	}
	name := objects.TLSSecretName(rc)
	existing, err := c.secrets.Secrets(rc.Namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, 0, err
	}
	if existing != nil && !made {
		if creds, err := parseTLSFiles(existing.Data, now); err == nil && string(existing.Data[objects.TLSCAKey]) == string(ca.CertPEM) {
			if renewIn = creds.Leaf.NotAfter.Add(-c.validity / 3).Sub(now); renewIn > 0 {
				return false, renewIn, nil
			}
		}
	}
	cert, key, err := ca.Issue(rc.Name+"."+rc.Namespace+" redis node", now.Add(-backdate), now.Add(c.validity))
	if err != nil {
		return false, 0, fmt.Errorf("issuing the node certificate: %w", err)
	}
	data := map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key, objects.TLSCAKey: ca.CertPEM}
	return true, 0, c.writeOwnedSecret(ctx, rc, objects.OwnedSecret(rc, name, corev1.SecretTypeTLS, data), existing)
}

// clusterCA is rc's own CA, made and kept in its CA Secret the first time (made).
func (c *Controller) clusterCA(ctx context.Context, rc *redisv1beta1.RedisCluster, now time.Time) (ca *certs.CA, made bool, err error) {
	name := objects.TLSCASecretName(rc)
	existing, err := c.secrets.Secrets(rc.Namespace).Get(name)
	if err == nil {
		if owner := metav1.GetControllerOf(existing); owner == nil || owner.UID != rc.UID {
			return nil, false, fmt.Errorf("secret %s exists and is not this cluster's: rename or delete it", name)
		}
		ca, err := certs.LoadCA(existing.Data[objects.TLSCAKey], existing.Data[caKeyKey])
		if err != nil {
			return nil, false, fmt.Errorf("CA secret %s: %w", name, err)
		}
		return ca, false, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, err
	}
	if ca, err = certs.NewCA(rc.Name+"."+rc.Namespace+" redis CA", now.Add(-backdate), now.Add(caValidity)); err != nil {
		return nil, false, fmt.Errorf("making the cluster's CA: %w", err)
	}
	data := map[string][]byte{objects.TLSCAKey: ca.CertPEM, caKeyKey: ca.KeyPEM}
	// Created, never overwritten: a CA the cache does not show yet must not be replaced.
	if _, err := c.kubeClient.CoreV1().Secrets(rc.Namespace).Create(ctx, objects.OwnedSecret(rc, name, corev1.SecretTypeOpaque, data), metav1.CreateOptions{}); err != nil {
		return nil, false, fmt.Errorf("creating CA secret %s: %w", name, err)
	}
	return ca, true, nil
}

// caKeyKey holds the CA's private key in its Secret.
const caKeyKey = "ca.key"
