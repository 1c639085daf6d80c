package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/tlstest"
)

// The fake cluster speaks no TLS: no certificate is served, and a reload is recorded.
func (r *fakeRedis) ServedCertificate(context.Context, string) (*x509.Certificate, error) {
	return nil, errors.New("the fake cluster speaks no TLS")
}

func (r *fakeRedis) ReloadCertificate(_ context.Context, addr string, files conf.CertificateFiles) error {
	r.record("reload certificate %s %s", addr, files.CA)
	return nil
}

func (r *fakeRedis) SwitchTLS(_ context.Context, addr string, _ int, files *conf.CertificateFiles, _ string) error {
	r.record("switch tls %s %v", addr, files != nil)
	return nil
}

// The node-certificate Secret steps from what the nodes hold to the user's Secret, reading both
// afresh each sync (an operator that just started knows no more): a renewal of the nodes' CA
// is copied at once; a certificate of another CA comes in by steps, each only once every node
// runs the one before: its CA beside theirs, then it served with both trusted, then the user's
// files; and a certificate no node could use is refused with the nodes' one still presented.
func TestTheNodesCertificateStepsTowardsTheSecrets(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	ca, other := tlstest.NewCA(t, "nodes-ca"), tlstest.NewCA(t, "other-ca")
	first := ca.ValidNode(t)
	certificateOf := func(copied, user tlstest.Credentials) *nodeCertificate {
		f := newFixture(t)
		f.clusters = []*redisv1beta1.RedisCluster{rc}
		f.secrets = []*corev1.Secret{objects.NodeCertificateSecret(rc, copied.SecretData()),
			{ObjectMeta: metav1.ObjectMeta{Name: "certs", Namespace: rc.Namespace}, Data: user.SecretData()}}
		c, _, _ := f.newController()
		return c.nodeCertificateOf(rc)
	}
	now := time.Now()
	step := func(copied, user tlstest.Credentials) tlstest.Credentials {
		t.Helper()
		cert := certificateOf(copied, user)
		require.NoError(t, cert.refused)
		require.Equal(t, copied.ClientCredentials(t).Leaf.SerialNumber, cert.creds.Leaf.SerialNumber, "the nodes' certificate is presented")
		files, err := cert.next(false, now)
		require.NoError(t, err)
		require.Nil(t, files, "not every node runs the copy yet: it waits")
		files, err = cert.next(true, now)
		require.NoError(t, err)
		return tlstest.Credentials{Cert: files["tls.crt"], Key: files["tls.key"], CA: files["ca.crt"]}
	}

	renewed := ca.ValidNode(t)
	require.Equal(t, renewed, step(first, renewed), "a renewal of the nodes' CA")

	foreign := other.ValidNode(t)
	both := append(append([]byte{}, first.CA...), foreign.CA...)
	trusted := step(first, foreign)
	require.Equal(t, tlstest.Credentials{Cert: first.Cert, Key: first.Key, CA: both}, trusted, "first the new CA beside the old")
	served := step(trusted, foreign)
	require.Equal(t, tlstest.Credentials{Cert: foreign.Cert, Key: foreign.Key, CA: both}, served, "then its certificate, both CAs trusted")
	require.Equal(t, foreign, step(served, foreign), "then the user's files")
	files, err := certificateOf(foreign, foreign).next(true, now)
	require.NoError(t, err)
	require.Nil(t, files, "done")

	expired := ca.Node(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	cert := certificateOf(first, expired)
	require.ErrorContains(t, cert.refused, "not now")
	require.Equal(t, first.ClientCredentials(t).Leaf.SerialNumber, cert.creds.Leaf.SerialNumber)
}

// Nodes that run other links than status.links names (the status write of a switch was lost)
// are followed: the operator reaches them the way they answer and says so; nodes that answer
// neither way (down) change nothing.
func TestTheOperatorFollowsTheLinksTheNodesRun(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	rc.Status.Links = redisv1beta1.LinksPlain
	host, port, _ := strings.Cut(testcluster.Addr(0), ":")
	p, _ := strconv.Atoi(port)
	rc.Status.Nodes = []redisv1beta1.NodeStatus{{Pod: "rc-0", IP: host, Port: int32(p)}}
	creds := tlstest.NewCA(t, "nodes-ca").ValidNode(t)
	f := newFixture(t)
	f.clusters = []*redisv1beta1.RedisCluster{rc}
	f.secrets = []*corev1.Secret{objects.NodeCertificateSecret(rc, creds.SecretData())}
	c, _, _ := f.newController()
	answering := &fakeRedis{view: testcluster.View(testcluster.Healthy()...)}
	silent := &fakeRedis{view: &topology.ClusterView{Nodes: map[string]*topology.NodeState{}}}
	follow := func(tlsAnswers, plainAnswers bool) *redisv1beta1.RedisCluster {
		c.redis = redisConnections{connect: func(config *tls.Config, _ ...string) redisops.Cluster {
			if (config != nil && tlsAnswers) || (config == nil && plainAnswers) {
				return answering
			}
			return silent
		}}
		return c.followLinks(context.Background(), rc, c.nodeCertificateOf(rc), nil)
	}
	require.Equal(t, redisv1beta1.LinksTLS, follow(true, false).Status.Links, "the nodes run TLS")
	require.Equal(t, redisv1beta1.LinksPlain, rc.Status.Links, "the cached object is left as it is")
	require.Same(t, rc, follow(false, true), "the nodes run what the status says")
	require.Same(t, rc, follow(false, false), "down, not another mode")
}
