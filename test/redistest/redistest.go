// Package redistest runs real redis-server processes on loopback for tests, and forms them into a
// cluster with pkg/redisops.
package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
)

// Server is one cluster-enabled redis-server.
type Server struct {
	Port int
	Addr string
	cmd  *exec.Cmd
}

// Options tune the servers.
type Options struct {
	// NodeTimeout is cluster-node-timeout in milliseconds (default 2000).
	NodeTimeout int
	// TLS, when set, makes every link of the servers TLS with these files (see tlstest).
	TLS *conf.TLS
	// Include, when set, is a config file the servers read first, as the operator's nodes do.
	Include string
	// PlainLinks keeps the links of servers with TLS files plain: the files are only named, for
	// a switch to TLS while the servers run.
	PlainLinks bool
	// Dir, when set, is the servers' directory instead of a new temporary one: a test starts a
	// server over data it put there. The servers share it, so give it to one server.
	Dir string
	// AppendOnly runs the servers with appendonly yes, as the operator's nodes run.
	AppendOnly bool
}

// StartServers starts n cluster-enabled redis-server processes on 127.0.0.1 with free client and
// bus ports, and stops them when the test ends. A missing redis-server fails the test.
func StartServers(t testing.TB, n int, opts Options) []*Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not on PATH: run hack/sandbox-binaries.sh (it installs Debian's redis-server)")
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = 2000
	}
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	var servers []*Server
	for i := 0; i < n; i++ {
		s, err := startServer(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Kill)
		servers = append(servers, s)
	}
	return servers
}

func startServer(dir string, opts Options) (*Server, error) {
	for attempt := 0; attempt < 20; attempt++ {
		port, err := freePortPair()
		if err != nil {
			return nil, err
		}
		appendOnly := "no"
		if opts.AppendOnly {
			appendOnly = "yes"
		}
		ports := conf.Server{Port: int32(port), TLS: opts.TLS, PlainLinks: opts.PlainLinks}.PortArgs()
		if opts.Include != "" {
			ports = append([]string{"--include", opts.Include}, ports...)
		}
		cmd := exec.Command("redis-server", append(ports, "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-node-timeout", strconv.Itoa(opts.NodeTimeout),
			"--dir", dir, "--save", "", "--appendonly", appendOnly,
			"--repl-diskless-sync-delay", "0", "--daemonize", "no", "--logfile", fmt.Sprintf("redis-%d.log", port))...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s := &Server{Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if waitListening(s.Addr, exited) {
			return s, nil
		}
		s.Kill() // lost a race for the port: try another
	}
	return nil, fmt.Errorf("could not start redis-server on a free port")
}

// freePortPair finds a port P such that P and its bus port P+10000 are free on 127.0.0.1.
func freePortPair() (int, error) {
	for attempt := 0; attempt < 100; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port pair found")
}

// waitListening waits, at most 5 s, until the server at addr takes connections; false when it
// exited first.
func waitListening(addr string, exited <-chan struct{}) bool {
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) {
			select {
			case <-exited:
				return false, errors.New("exited")
			default:
			}
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err != nil {
				return false, nil
			}
			conn.Close()
			return true, nil
		})
	return err == nil
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Freeze stops the server's process (SIGSTOP) until Thaw: it holds its connections and answers
// nothing, as a stalled node would.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	}
}

// Addrs are the servers' addresses.
func Addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr
	}
	return out
}

// BootstrapCluster forms a healthy cluster of the servers: the first `masters` servers share
// the slots evenly and each of the rest replicates a master in turn. It waits until every node
// says cluster_state:ok and every replica's link is up.
func BootstrapCluster(t testing.TB, admin *redisops.Admin, servers []*Server, masters int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Distinct config epochs before the nodes meet, as the operator and redis-cli give them.
	for i, s := range servers[:masters] {
		if err := admin.SetConfigEpoch(ctx, s.Addr, int64(i)+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range servers[1:] {
		if err := admin.Meet(ctx, servers[0].Addr, "127.0.0.1", s.Port, s.Port+10000); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]string, len(servers))
	for i, s := range servers {
		view := admin.View(ctx, []string{s.Addr})
		self, _ := view.Nodes[s.Addr].Self()
		ids[i] = self.ID
	}
	for i, r := range topology.EvenSplit(masters) {
		if err := admin.AddSlotsRange(ctx, servers[i].Addr, []topology.SlotRange{r}); err != nil {
			t.Fatal(err)
		}
	}
	WaitFor(t, ctx, "every node to know every other", func() bool {
		view := admin.View(ctx, Addrs(servers))
		for _, s := range view.Nodes {
			if s.Err != nil {
				return false
			}
			usable := 0
			for _, n := range s.Table {
				if n.Usable() {
					usable++
				}
			}
			if usable != len(servers) {
				return false
			}
		}
		return true
	})
	for i := masters; i < len(servers); i++ {
		if err := admin.Replicate(ctx, servers[i].Addr, ids[(i-masters)%masters]); err != nil {
			t.Fatal(err)
		}
	}
	WaitFor(t, ctx, "cluster_state:ok everywhere, replicas linked and known to every node", func() bool {
		view := admin.View(ctx, Addrs(servers))
		replicaOf := view.ReplicaOf()
		for i, s := range servers {
			st := view.Nodes[s.Addr]
			if !st.StateOK() || (i >= masters && !st.LinkUp()) || len(st.UnlistedReplicas(replicaOf)) > 0 {
				return false
			}
		}
		return true
	})
}

// WaitFor polls cond every 50ms until it holds, failing the test when ctx ends first.
func WaitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	WaitNoError(t, ctx, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// WaitNoError polls check every 50ms until it returns nil, failing the test with its last error
// when ctx ends first.
func WaitNoError(t testing.TB, ctx context.Context, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("timed out waiting for %s: %v", what, last)
	}
}

// pollInterval is how often WaitFor and WaitNoError ask.
const pollInterval = 50 * time.Millisecond

var errNotYet = errors.New("not yet")

// ClusterClient is a cluster-aware client of the servers; the test's cleanup closes it.
func ClusterClient(t testing.TB, servers []*Server) *redis.ClusterClient {
	return TLSClusterClient(t, servers, nil)
}

// TLSClusterClient is ClusterClient's speaking TLS with config (plain when nil).
func TLSClusterClient(t testing.TB, servers []*Server, config *tls.Config) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: Addrs(servers), Protocol: 2, DisableIdentity: true, TLSConfig: config})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
