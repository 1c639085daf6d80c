package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/tlstest"
)

// trustingClient is a client configuration that trusts the CAs of each creds and presents no
// certificate: what an application meets during a change of CA while authClients is
// "optional".
func trustingClient(t *testing.T, creds ...tlstest.Credentials) *tls.Config {
	roots := x509.NewCertPool()
	for _, c := range creds {
		require.True(t, roots.AppendCertsFromPEM(c.CA))
	}
	trust := &redisops.TLSCredentials{Roots: roots}
	return redisops.TLSConfig(func() *redisops.TLSCredentials { return trust })
}

// A new CA replaces the old one under writers by the steps a user may take: ca.crt with both
// CAs, then a certificate of the new CA, then ca.crt of the new CA alone; then a third CA comes
// in one change of the Secret, and the operator takes the same steps itself. No node restarts,
// no new connection is refused at any moment, no acknowledged write is lost, and the cluster
// bus stays whole.
func TestANewCAComesInUnderWriters(t *testing.T) {
	old, next, third := tlstest.NewCA(t, "old-ca"), tlstest.NewCA(t, "new-ca"), tlstest.NewCA(t, "third-ca")
	first, renewed, last := old.ValidNode(t), next.ValidNode(t), third.ValidNode(t)
	rc := f.ReadyCluster(t, "tls-ca", framework.WithTLS(first), framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
		s.TLS = &redisv1beta1.TLSSpec{AuthClients: "optional"}
	}))
	ns := rc.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	runIDs := runIDsOf(t, ctx, rc)
	clients := trustingClient(t, first, renewed, last)
	client := redisClusterClient(t, rc, clients)
	w := framework.StartWriters(client, 8, 100000)
	dials := startDialing(framework.NodeAddrs(rc), clients)
	serial := last.ClientCredentials(t).Leaf.SerialNumber.Text(16)
	start := time.Now()

	both := append(append([]byte{}, first.CA...), renewed.CA...)
	steps := []struct {
		what              string
		creds             tlstest.Credentials
		trusted, refused  tlstest.Credentials // a client presenting trusted is served, refused is not
		refusedPresenting bool
	}{
		{"ca.crt with both CAs", tlstest.Credentials{Cert: first.Cert, Key: first.Key, CA: both}, renewed, tlstest.Credentials{}, false},
		{"a certificate of the new CA", tlstest.Credentials{Cert: renewed.Cert, Key: renewed.Key, CA: both}, first, tlstest.Credentials{}, false},
		{"ca.crt of the new CA alone", renewed, renewed, first, true},
		// As cert-manager does when its issuer changes: the operator takes the steps itself.
		{"a third CA's certificate and ca.crt, in one change", last, last, renewed, true},
	}
	for _, step := range steps {
		f.RenewTLSSecret(t, rc, step.creds)
		loaded := nodesLoaded(t, ns, "tls-ca", step.creds, step.trusted)
		framework.WaitFor(t, 2*time.Minute, "every node to load "+step.what, func() (bool, error) {
			if ok, err := loaded(); !ok || !step.refusedPresenting {
				return ok, err
			}
			// The old CA is no longer trusted anywhere: its certificate is refused by every node.
			return refusedEverywhere(t, ns, "tls-ca", step.creds, step.refused)
		})
		t.Logf("%s loaded by every node %s after the first step", step.what, time.Since(start).Round(10*time.Millisecond))
	}
	dialed, refused := dials.stop()
	w.Halt()

	framework.PresentTLS(t, rc, last)
	check := framework.AdminOf(rc, "")
	defer check.Close()
	for addr, id := range runIDs {
		info, err := check.Client(addr).Info(ctx, "server").Result()
		require.NoError(t, err, "%s refuses the new CA's certificate", addr)
		require.Equal(t, id, runIDOf(info), "%s restarted", addr)
		served, err := check.ServedCertificate(ctx, addr)
		require.NoError(t, err)
		require.Equal(t, serial, served.SerialNumber.Text(16), addr)
	}
	require.Empty(t, refused, "new connections refused during the change of CA")
	w.CheckAcked(t, redisClusterClient(t, rc, clients))
	f.CheckInvariants(t, f.WaitReady(t, ns, "tls-ca", time.Minute))
	t.Logf("new CA served everywhere %s after the first step; %d new connections, none refused; %d writes acknowledged, longest gap %s",
		time.Since(start).Round(10*time.Millisecond), dialed, w.Acked(), w.LongestGap())
}

// nodesLoaded reports whether every node of the cluster serves creds' certificate, checked
// against creds' CAs, to a client presenting the certificate of presenting, which the node must
// trust: it loaded all of creds.
func nodesLoaded(t *testing.T, ns, name string, creds, presenting tlstest.Credentials) func() (bool, error) {
	client := presentingTo(t, creds, presenting)
	serial := creds.ClientCredentials(t).Leaf.SerialNumber.Text(16)
	return func() (bool, error) {
		admin := redisops.NewTLSAdmin(redisops.TLSConfig(func() *redisops.TLSCredentials { return client }))
		defer admin.Close()
		ctx := context.Background()
		cur := f.Cluster(t, ns, name)
		for _, addr := range framework.NodeAddrs(cur) {
			if err := admin.Client(addr).Ping(ctx).Err(); err != nil {
				return false, fmt.Errorf("%s: %w", addr, err)
			}
			served, err := admin.ServedCertificate(ctx, addr)
			if err != nil {
				return false, err
			}
			if got := served.SerialNumber.Text(16); got != serial {
				return false, fmt.Errorf("%s serves %s", addr, got)
			}
		}
		return len(cur.Status.Nodes) == 6, nil
	}
}

// refusedEverywhere reports whether every node of the cluster refuses a client presenting the
// certificate of presenting.
func refusedEverywhere(t *testing.T, ns, name string, creds, presenting tlstest.Credentials) (bool, error) {
	client := presentingTo(t, creds, presenting)
	admin := redisops.NewTLSAdmin(redisops.TLSConfig(func() *redisops.TLSCredentials { return client }))
	defer admin.Close()
	for _, addr := range framework.NodeAddrs(f.Cluster(t, ns, name)) {
		if err := admin.Client(addr).Ping(context.Background()).Err(); err == nil {
			return false, fmt.Errorf("%s still takes a certificate of the old CA", addr)
		}
	}
	return true, nil
}

// presentingTo are credentials presenting the certificate of presenting and trusting creds' CAs.
func presentingTo(t *testing.T, creds, presenting tlstest.Credentials) *redisops.TLSCredentials {
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(creds.CA))
	client := presenting.ClientCredentials(t)
	return &redisops.TLSCredentials{Certificate: client.Certificate, Roots: roots, Leaf: client.Leaf}
}

// redisClusterClient is a cluster client of rc's nodes with the TLS configuration config.
func redisClusterClient(t *testing.T, rc *redisv1beta1.RedisCluster, config *tls.Config) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: framework.NodeAddrs(rc), Protocol: 2, DisableIdentity: true,
		MaxRedirects: 16, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, TLSConfig: config})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A TLS cluster without a Secret of its own: the operator makes a CA and a node certificate,
// and renews the certificate live once a third of its validity is left (here a minute, so 40 s
// after it was made), under writers: no restart, no new connection refused, no write lost.
func TestAClusterWithoutASecretGetsAndRenewsItsOwnCertificate(t *testing.T) {
	op := f.StartOperator(t, "--tls-certificate-validity=60s")
	rc := f.ReadyCluster(t, "tls-own", framework.RunBy(op), framework.WithSpec(func(s *redisv1beta1.RedisClusterSpec) {
		s.TLS = &redisv1beta1.TLSSpec{AuthClients: "optional"}
	}))
	ns := rc.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	first := f.PresentOperatorsCertificate(t, rc)
	firstSerial := first.ClientCredentials(t).Leaf.SerialNumber.Text(16)
	plain := redis.NewClient(&redis.Options{Addr: framework.NodeAddrs(rc)[0], MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	require.Error(t, plain.Ping(ctx).Err(), "a plain connection")
	_ = plain.Close()
	runIDs := runIDsOf(t, ctx, rc)

	clients := trustingClient(t, first)
	client := redisClusterClient(t, rc, clients)
	w := framework.StartWriters(client, 8, 100000)
	dials := startDialing(framework.NodeAddrs(rc), clients)
	start := time.Now()
	var renewed string
	framework.WaitFor(t, 2*time.Minute, "every node to serve a renewed certificate", func() (bool, error) {
		cur := f.Cluster(t, ns, "tls-own")
		for _, n := range cur.Status.Nodes {
			if n.Certificate == nil || n.Certificate.Serial == firstSerial || (renewed != "" && n.Certificate.Serial != renewed) {
				return false, fmt.Errorf("%s serves %v", n.Pod, n.Certificate)
			}
			renewed = n.Certificate.Serial
		}
		return len(cur.Status.Nodes) == 6, nil
	})
	took := time.Since(start)
	dialed, refused := dials.stop()
	w.Halt()

	current := f.PresentOperatorsCertificate(t, rc)
	require.Equal(t, first.CA, current.CA, "the same CA")
	require.Equal(t, renewed, current.ClientCredentials(t).Leaf.SerialNumber.Text(16))
	check := framework.AdminOf(rc, "")
	defer check.Close()
	for addr, id := range runIDs {
		info, err := check.Client(addr).Info(ctx, "server").Result()
		require.NoError(t, err)
		require.Equal(t, id, runIDOf(info), "%s restarted", addr)
	}
	require.Empty(t, refused, "new connections refused during the renewal")
	w.CheckAcked(t, redisClusterClient(t, rc, clients))
	f.CheckInvariants(t, f.Cluster(t, ns, "tls-own"))
	t.Logf("renewed certificate %s served everywhere %s after the writers started; %d new connections, none refused; %d writes acknowledged, longest gap %s",
		renewed, took.Round(10*time.Millisecond), dialed, w.Acked(), w.LongestGap())
}
