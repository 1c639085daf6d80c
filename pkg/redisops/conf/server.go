package conf

import (
	"fmt"
	"strconv"
)

// Server is what a node's command line says.
type Server struct {
	// Include is the redis.conf the node reads first, so that the directives below win over it.
	Include string
	// Port is the client port; the cluster bus listens on BusPort.
	Port, BusPort int32
	// Address is the address the node binds to and announces (an environment reference such as
	// $(POD_IP) is left to the container runtime).
	Address string
	// Dir holds the node's data: its AOF and its nodes.conf.
	Dir string
	// TLS, when set, makes Port a TLS port and the only one, and puts the cluster bus and
	// replication on TLS too; with PlainLinks, the node only names the files, for a switch to
	// TLS while it runs.
	TLS        *TLS
	PlainLinks bool
}

// TLS is what a TLS node loads: the files of its certificate, key and CA, and tls-auth-clients.
type TLS struct {
	CertFile, KeyFile, CAFile string
	AuthClients               string
}

// Args are the redis-server arguments that make port the node's one client port, over TLS, and
// put the cluster bus and replication on TLS.
func (t TLS) Args(port int32) []string {
	return append([]string{"--port", "0", "--tls-port", strconv.Itoa(int(port)),
		"--tls-cluster", "yes", "--tls-replication", "yes"}, t.fileArgs()...)
}

// TLSFileDirectives are the directives naming the files a TLS node runs with: its certificate,
// key and CA, in that order.
var TLSFileDirectives = []string{"tls-cert-file", "tls-key-file", "tls-ca-cert-file"}

// fileArgs name t's files and tls-auth-clients.
func (t TLS) fileArgs() []string {
	return []string{"--" + TLSFileDirectives[0], t.CertFile, "--" + TLSFileDirectives[1], t.KeyFile,
		"--" + TLSFileDirectives[2], t.CAFile, "--tls-auth-clients", t.AuthClients}
}

// PortArgs are the arguments of s's client port and TLS.
func (s Server) PortArgs() []string {
	switch {
	case s.TLS == nil:
		return []string{"--port", strconv.Itoa(int(s.Port))}
	case s.PlainLinks:
		// Redis loads the files only when a link uses TLS; named, they tell where they are.
		return append([]string{"--port", strconv.Itoa(int(s.Port))}, s.TLS.fileArgs()...)
	}
	return s.TLS.Args(s.Port)
}

// Args are the redis-server arguments of s.
func (s Server) Args() []string {
	args := append([]string{"--include", s.Include}, s.PortArgs()...)
	return append(args,
		"--bind", s.Address,
		"--cluster-enabled", "yes",
		"--cluster-port", strconv.Itoa(int(s.BusPort)),
		"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", s.Port),
		"--cluster-announce-ip", s.Address,
		"--dir", s.Dir,
		// Replicas sync over the socket at once instead of waiting 5 s for more replicas.
		"--repl-diskless-sync-delay", "0",
		"--daemonize", "no",
		// The data volume survives container restarts even without persistence (an emptyDir): a
		// master restarted in place must come back with its keys, or its replicas would resync
		// from an empty master and lose them too.
		"--appendonly", "yes",
		"--save", "",
		// Clients are held off by the password when there is one; nodes bind to their address.
		"--protected-mode", "no",
	)
}

// CertificateFiles are the names of a certificate, its key and the CA certificates in the
// directory a TLS node loads its files from.
type CertificateFiles struct {
	Cert, Key, CA string
}
