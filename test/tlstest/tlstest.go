// Package tlstest makes certificate authorities and the node certificates they sign, in PEM as
// a cert-manager Secret holds them, for tests of TLS clusters.
package tlstest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"redis-operator/pkg/certs"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
)

// CA is a certificate authority.
type CA struct {
	ca *certs.CA
	// PEM is the CA's certificate: a Secret's ca.crt.
	PEM []byte
}

// NewCA makes a CA named name, valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := certs.NewCA(name, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &CA{ca: ca, PEM: ca.CertPEM}
}

// Credentials are a node certificate and its key, in PEM, and the CA's certificate.
type Credentials struct {
	Cert, Key, CA []byte
}

// Node issues a certificate for Redis nodes, with server and client usage, valid from
// notBefore to notAfter.
func (ca *CA) Node(t testing.TB, notBefore, notAfter time.Time) Credentials {
	t.Helper()
	cert, key, err := ca.ca.Issue("redis-node", notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return Credentials{Cert: cert, Key: key, CA: ca.PEM}
}

// ValidNode is a node certificate valid from an hour ago for a day.
func (ca *CA) ValidNode(t testing.TB) Credentials {
	return ca.Node(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// SecretData is c as the data of a kubernetes.io/tls Secret with ca.crt.
func (c Credentials) SecretData() map[string][]byte {
	return map[string][]byte{"tls.crt": c.Cert, "tls.key": c.Key, "ca.crt": c.CA}
}

// Write puts c's files in dir and returns them as a node loads them.
func (c Credentials) Write(t testing.TB, dir string) conf.TLS {
	t.Helper()
	files := conf.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		CAFile: filepath.Join(dir, "ca.crt"), AuthClients: "yes"}
	for path, data := range map[string][]byte{files.CertFile: c.Cert, files.KeyFile: c.Key, files.CAFile: c.CA} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// ClientCredentials are c as the operator presents and trusts them.
func (c Credentials) ClientCredentials(t testing.TB) *redisops.TLSCredentials {
	t.Helper()
	creds, err := redisops.ParseTLSCredentials(c.Cert, c.Key, c.CA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return creds
}
