package framework

import (
	"context"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/test/tlstest"
)

// tlsAccess is how the tests reach a TLS cluster's nodes: the client configuration of the
// node certificate, and its files for redis-cli.
type tlsAccess struct {
	config *tls.Config
	files  conf.TLS
}

// tlsClusters maps "namespace/name" of each TLS cluster a test made to its tlsAccess.
var tlsClusters sync.Map

// WithTLS makes the cluster a TLS one: ReadyCluster puts creds in a Secret in the cluster's
// namespace and names it in spec.tls, and the framework's clients and checks present creds.
func WithTLS(creds tlstest.Credentials) ClusterOption {
	return func(o *clusterOptions) { o.tls = &creds }
}

// setUpTLS creates rc's TLS Secret of creds, points rc's spec at it and records how the tests
// reach its nodes until the test ends.
func (f *Framework) setUpTLS(t testing.TB, rc *redisv1beta1.RedisCluster, creds tlstest.Credentials) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: rc.Name + "-tls", Namespace: rc.Namespace},
		Type:       corev1.SecretTypeTLS,
		Data:       creds.SecretData(),
	}
	if _, err := f.Kube.CoreV1().Secrets(rc.Namespace).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	authClients := ""
	if rc.Spec.TLS != nil {
		authClients = rc.Spec.TLS.AuthClients
	}
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: secret.Name, AuthClients: authClients}
	PresentTLS(t, rc, creds)
	t.Cleanup(func() { tlsClusters.Delete(rc.Namespace + "/" + rc.Name) })
}

// PresentTLS has the framework's clients and checks of rc present creds from now on: after a
// change of CA, the nodes refuse the certificate of the old one.
func PresentTLS(t testing.TB, rc *redisv1beta1.RedisCluster, creds tlstest.Credentials) {
	client := creds.ClientCredentials(t)
	tlsClusters.Store(rc.Namespace+"/"+rc.Name, &tlsAccess{
		config: redisops.TLSConfig(func() *redisops.TLSCredentials { return client }),
		files:  creds.Write(t, t.TempDir()),
	})
}

// PresentOperatorsCertificate has the framework's clients and checks of rc, a TLS cluster
// without a spec.tls.secretName, present the certificate the operator made for it, waiting for
// its Secret.
func (f *Framework) PresentOperatorsCertificate(t testing.TB, rc *redisv1beta1.RedisCluster) tlstest.Credentials {
	t.Helper()
	var creds tlstest.Credentials
	WaitFor(t, time.Minute, "the operator to make the cluster's certificate", func() (bool, error) {
		secret, err := f.Kube.CoreV1().Secrets(rc.Namespace).Get(context.Background(), rc.Name+"-tls", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		creds = tlstest.Credentials{Cert: secret.Data["tls.crt"], Key: secret.Data["tls.key"], CA: secret.Data["ca.crt"]}
		return true, nil
	})
	PresentTLS(t, rc, creds)
	return creds
}

// ForgetTLS has the framework's clients and checks of rc reach it in the clear again, once its
// links switched back to plain.
func ForgetTLS(rc *redisv1beta1.RedisCluster) {
	tlsClusters.Delete(rc.Namespace + "/" + rc.Name)
}

// tlsOf is how the tests reach rc's nodes over TLS, nil for a plain cluster.
func tlsOf(rc *redisv1beta1.RedisCluster) *tlsAccess {
	if a, ok := tlsClusters.Load(rc.Namespace + "/" + rc.Name); ok {
		return a.(*tlsAccess)
	}
	return nil
}

// TLSConfig is the client configuration that reaches rc's nodes, nil for a plain cluster.
func TLSConfig(rc *redisv1beta1.RedisCluster) *tls.Config {
	if a := tlsOf(rc); a != nil {
		return a.config
	}
	return nil
}

// TLSFiles are the certificate files redis-cli presents to rc's nodes, nil for a plain cluster.
func TLSFiles(rc *redisv1beta1.RedisCluster) *conf.TLS {
	if a := tlsOf(rc); a != nil {
		return &a.files
	}
	return nil
}

// AdminOf is an Admin of rc's nodes that logs in with password; the caller closes it.
func AdminOf(rc *redisv1beta1.RedisCluster, password string) *redisops.Admin {
	if config := TLSConfig(rc); config != nil {
		return redisops.NewTLSAdmin(config, password)
	}
	return redisops.NewAdmin(password)
}

// RenewTLSSecret puts creds in rc's TLS Secret, as cert-manager does when it renews the
// certificate. The tests keep presenting the certificate they had.
func (f *Framework) RenewTLSSecret(t testing.TB, rc *redisv1beta1.RedisCluster, creds tlstest.Credentials) {
	t.Helper()
	secrets := f.Kube.CoreV1().Secrets(rc.Namespace)
	secret, err := secrets.Get(context.Background(), rc.Spec.TLS.SecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret.Data = creds.SecretData()
	if _, err := secrets.Update(context.Background(), secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
