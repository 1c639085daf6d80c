package redisops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// ServedCertificate is the certificate the node at addr serves, by a TLS handshake of the
// Admin's own: what a new client of the node is shown now.
func (a *Admin) ServedCertificate(ctx context.Context, addr string) (*x509.Certificate, error) {
	if a.tls == nil {
		return nil, errors.New("the node is reached without TLS")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	dialer := tls.Dialer{NetDialer: &net.Dialer{}, Config: a.tls}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// ReloadCertificate has the node at addr load its certificate, key and CA files again, as they
// are now: one CONFIG SET of the three with the paths it runs with (read back first), which
// Redis applies together, without a restart or a dropped connection. A node that cannot load
// them keeps what it had and says why.
func (a *Admin) ReloadCertificate(ctx context.Context, addr string) error {
	c := a.Client(addr)
	args := []interface{}{"CONFIG", "SET"}
	for _, name := range []string{"tls-cert-file", "tls-key-file", "tls-ca-cert-file"} {
		got, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			return err
		}
		if got[name] == "" {
			return fmt.Errorf("the node runs without %s", name)
		}
		args = append(args, name, got[name])
	}
	return c.Do(ctx, args...).Err()
}
