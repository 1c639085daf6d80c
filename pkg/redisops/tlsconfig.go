package redisops

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TLSCredentials are what the operator presents to a cluster's nodes and the CAs it trusts in
// them.
type TLSCredentials struct {
	Certificate tls.Certificate
	Roots       *x509.CertPool
	// Leaf is Certificate's first certificate, parsed.
	Leaf *x509.Certificate
}

// ParseTLSCredentials reads a PEM certificate chain, its key and the CA certificates, as a
// cert-manager Secret holds them (tls.crt, tls.key, ca.crt). It refuses a key that does not
// match, a certificate no given CA signed, one that cannot serve or present itself as a client
// (the cluster bus needs both), and one outside its validity at now: a node given such a
// certificate could not talk to the others.
func ParseTLSCredentials(certPEM, keyPEM, caPEM []byte, now time.Time) (*TLSCredentials, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls.crt and tls.key: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ca.crt holds no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tls.crt: %w", err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("tls.crt (serial %s) is valid from %s to %s, not now",
			leaf.SerialNumber.Text(16), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	intermediates := x509.NewCertPool()
	for _, raw := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(raw); err == nil {
			intermediates.AddCert(c)
		}
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return nil, fmt.Errorf("tls.crt against ca.crt: %w", err)
		}
	}
	return &TLSCredentials{Certificate: pair, Roots: roots, Leaf: leaf}, nil
}

// TLSConfig is a client configuration that presents and trusts what current returns at the
// time of each handshake, so that renewed credentials serve the next connection. A node is
// checked as Redis nodes check each other: its chain up to a trusted CA, not its name, since one
// node certificate is shared by nodes whose addresses nobody knew when it was made.
func TLSConfig(current func() *TLSCredentials) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is checked in VerifyConnection, without the name.
		InsecureSkipVerify: true, //nolint:gosec
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &current().Certificate, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the node presented no certificate")
			}
			intermediates := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: current().Roots, Intermediates: intermediates,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		},
	}
}

// Follows reports why c cannot replace prev on nodes that serve prev's certificate and trust
// prev's CAs, nil when it can: c's certificate must be signed by a CA they trust, and c's CAs
// must trust the certificate they serve. Otherwise nodes that loaded c and nodes that did not
// yet would refuse each other, and the operator, holding c, both. A new CA is brought in with
// both CAs in ca.crt first.
func (c *TLSCredentials) Follows(prev *TLSCredentials, now time.Time) error {
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: prev.Roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("tls.crt is signed by a CA the nodes do not trust yet (%v): put the new CA in ca.crt beside the old one first", err)
	}
	if _, err := prev.Leaf.Verify(x509.VerifyOptions{Roots: c.Roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("ca.crt no longer trusts the certificate the nodes serve (%v): keep the old CA in ca.crt until every node serves the new certificate", err)
	}
	return nil
}
