package controller

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/test/tlstest"
)

// The fake cluster speaks no TLS: no certificate is served, and a reload is recorded.
func (r *fakeRedis) ServedCertificate(context.Context, string) (*x509.Certificate, error) {
	return nil, errors.New("the fake cluster speaks no TLS")
}

func (r *fakeRedis) ReloadCertificate(_ context.Context, addr string) error {
	r.record("reload certificate %s", addr)
	return nil
}

// An operator that starts afresh, with no connection that remembers what the nodes were given,
// still checks the user's Secret against the node-certificate copy: a certificate of a CA the
// nodes do not trust is refused, and a renewal of their CA is copied for them.
func TestAFreshOperatorChecksTheSecretAgainstTheNodesCopy(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	ca := tlstest.NewCA(t, "nodes-ca")
	first := ca.ValidNode(t)
	user := func(c tlstest.Credentials) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "certs", Namespace: rc.Namespace}, Data: c.SecretData()}
	}

	f := newFixture(t)
	f.clusters = []*redisv1beta1.RedisCluster{rc}
	f.secrets = []*corev1.Secret{objects.NodeCertificateSecret(rc, first.SecretData()), user(tlstest.NewCA(t, "foreign").ValidNode(t))}
	c, _, _ := f.newController()
	cert := c.nodeCertificateOf(rc)
	require.ErrorContains(t, cert.refused, "do not trust yet")
	require.Nil(t, cert.files, "nothing to copy")
	require.Equal(t, first.ClientCredentials(t).Leaf.SerialNumber, cert.creds.Leaf.SerialNumber, "the nodes' certificate is presented")

	renewed := ca.ValidNode(t)
	f = newFixture(t)
	f.clusters = []*redisv1beta1.RedisCluster{rc}
	f.secrets = []*corev1.Secret{objects.NodeCertificateSecret(rc, first.SecretData()), user(renewed)}
	c, _, _ = f.newController()
	cert = c.nodeCertificateOf(rc)
	require.NoError(t, cert.refused)
	require.NoError(t, c.writeNodeCertificate(context.Background(), rc, cert))
	copied, err := f.kubeClient.CoreV1().Secrets(rc.Namespace).Get(context.Background(), "rc-node-certificate", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, renewed.Cert, copied.Data["tls.crt"])
}
