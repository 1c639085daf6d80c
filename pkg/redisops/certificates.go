package redisops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path"
	"redis-operator/pkg/redisops/conf"
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

func (a *Admin) certificatePaths(ctx context.Context, addr string) ([]string, error) {
	got, err := a.Client(addr).ConfigGet(ctx, "tls-*-file").Result()
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(conf.TLSFileDirectives))
	for i, name := range conf.TLSFileDirectives {
		if paths[i] = got[name]; paths[i] == "" {
			return nil, fmt.Errorf("the node runs without %s", name)
		}
	}
	return paths, nil
}

// ReloadCertificate has the node at addr load files, from the directory of the files it runs
// with (read back first, as the path a node sees may not be the pod's), by one CONFIG SET of the
// three, which Redis applies together, without a restart or a dropped connection. A node that
// cannot load them (not there yet, or unusable) keeps what it had and says why. Empty names
// reload the files it runs with.
func (a *Admin) ReloadCertificate(ctx context.Context, addr string, files conf.CertificateFiles) error {
	paths, err := a.certificatePaths(ctx, addr)
	if err != nil {
		return err
	}
	args := []interface{}{"CONFIG", "SET"}
	for i, name := range []string{files.Cert, files.Key, files.CA} {
		if name != "" {
			paths[i] = path.Join(path.Dir(paths[i]), name)
		}
		args = append(args, conf.TLSFileDirectives[i], paths[i])
	}
	return a.Client(addr).Do(ctx, args...).Err()
}

// SwitchTLS turns the links of the node at addr to TLS with files, in the directory of the
// files it names (read back first, as ReloadCertificate does), or back to plain when files is
// nil, live: its one client port, port, changes protocol at once, and replication and the
// cluster bus open their new links the new way. Links already open stay as they are until
// they reconnect, the connection that sends this one included.
func (a *Admin) SwitchTLS(ctx context.Context, addr string, port int, files *conf.CertificateFiles, authClients string) error {
	args := []interface{}{"CONFIG", "SET"}
	if files != nil {
		paths, err := a.certificatePaths(ctx, addr)
		if err != nil {
			return err
		}
		for i, name := range []string{files.Cert, files.Key, files.CA} {
			args = append(args, conf.TLSFileDirectives[i], path.Join(path.Dir(paths[i]), name))
		}
		args = append(args, "tls-auth-clients", authClients, "tls-replication", "yes", "tls-cluster", "yes", "port", 0, "tls-port", port)
	} else {
		args = append(args, "tls-replication", "no", "tls-cluster", "no", "tls-port", 0, "port", port)
	}
	if err := a.Client(addr).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("switching %s to TLS %v: %w", addr, files != nil, err)
	}
	return nil
}
