package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/certs"
	"redis-operator/pkg/controller/internal/testcluster"
)

// A TLS cluster without a Secret of its own gets a CA made once and a node certificate it signs,
// with both usages, made again once a third of its validity is left; another's Secret of the
// CA's name is never taken over.
func TestTheOperatorMakesAndRenewsTheCertificateOfAClusterWithoutASecret(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{}
	ctx := context.Background()
	issue := func(secrets ...*corev1.Secret) (bool, *fixture, error) {
		f := newFixture(t)
		f.clusters, f.secrets = []*redisv1beta1.RedisCluster{rc}, secrets
		c, _, _ := f.newController()
		wrote, _, err := c.issueCertificate(ctx, rc)
		return wrote, f, err
	}
	read := func(f *fixture, name string) *corev1.Secret {
		s, err := f.kubeClient.CoreV1().Secrets(rc.Namespace).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return s
	}

	wrote, f, err := issue()
	require.NoError(t, err)
	require.True(t, wrote)
	ca, node := read(f, "rc-tls-ca"), read(f, "rc-tls")
	require.Equal(t, rc.UID, metav1.GetControllerOf(ca).UID)
	require.Equal(t, rc.UID, metav1.GetControllerOf(node).UID)
	now := time.Now()
	creds, err := parseTLSFiles(node.Data, now) // signed by ca.crt, both usages, valid now
	require.NoError(t, err)
	require.Equal(t, ca.Data["ca.crt"], node.Data["ca.crt"])
	require.WithinDuration(t, now.Add(90*24*time.Hour), creds.Leaf.NotAfter, time.Minute)

	wrote, _, err = issue(ca, node)
	require.NoError(t, err)
	require.False(t, wrote, "still valid for long: kept")

	loaded, err := certs.LoadCA(ca.Data["ca.crt"], ca.Data["ca.key"])
	require.NoError(t, err)
	cert, key, err := loaded.Issue("old", now.Add(-time.Hour), now.Add(29*24*time.Hour))
	require.NoError(t, err)
	expiring := node.DeepCopy()
	expiring.Data["tls.crt"], expiring.Data["tls.key"] = cert, key
	wrote, f, err = issue(ca, expiring)
	require.NoError(t, err)
	require.True(t, wrote, "less than a third left: renewed")
	renewed, err := parseTLSFiles(read(f, "rc-tls").Data, now)
	require.NoError(t, err)
	require.WithinDuration(t, now.Add(90*24*time.Hour), renewed.Leaf.NotAfter, time.Minute)
	require.Equal(t, ca.Data["ca.crt"], read(f, "rc-tls").Data["ca.crt"], "by the same CA: the nodes take it at once")

	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rc-tls-ca", Namespace: rc.Namespace}, Data: ca.Data}
	_, _, err = issue(foreign)
	require.ErrorContains(t, err, "not this cluster's")
}
