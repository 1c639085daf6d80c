// Package s3test runs a real S3-compatible server for tests: versitygw over a temporary folder,
// on a free port of 127.0.0.1, that a test can stop and restart to play an outage.
package s3test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"redis-operator/test/s3test/versitygw"
)

// Bounds of the waits.
const (
	readyTimeout  = 30 * time.Second
	exitTimeout   = 10 * time.Second
	bucketTimeout = 30 * time.Second
	// startAttempts covers another process taking the free port before versitygw binds it, which
	// makes versitygw exit.
	startAttempts = 3
)

// Server is one versitygw. Its data lives as long as the test; Stop and Restart keep it.
type Server struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	Region    string

	config   versitygw.Config
	toolsDir string
	logPath  string
	running  *process // nil while stopped
}

// process is a running versitygw.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited
}

// Start runs versitygw until the test ends. A missing binary fails the test.
func Start(t testing.TB) *Server {
	t.Helper()
	toolsDir, err := toolsDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(toolsDir, versitygw.Binary)); err != nil {
		t.Fatalf("%s is missing: run make test-tools (it builds versitygw into bin/tools)", filepath.Join(toolsDir, versitygw.Binary))
	}
	dir := t.TempDir()
	s := &Server{
		AccessKey: "s3test",
		SecretKey: "s3test-secret",
		// Not us-east-1, so a client that signs for us-east-1 whatever its configuration fails.
		Region:   "s3test-1",
		toolsDir: toolsDir,
		logPath:  filepath.Join(dir, "versitygw.log"),
	}
	s.config = versitygw.Config{Dir: filepath.Join(dir, "data"), AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: s.Region}
	if err := os.Mkdir(s.config.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			if raw, err := os.ReadFile(s.logPath); err == nil {
				t.Logf("versitygw log (last 4000 bytes):\n%s", raw[max(0, len(raw)-4000):])
			}
		}
	})
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		s.config.Addr, s.Endpoint = addr, addr
		err = s.start()
		if err == nil {
			return s
		}
		if !errors.Is(err, versitygw.ErrExited) || attempt == startAttempts {
			t.Fatalf("starting versitygw: %v (log: %s)", err, s.logPath)
		}
	}
}

// Client is an S3 client of the server, signing for its region.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	client, err := s.config.Client()
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// Bucket creates bucket name.
func (s *Server) Bucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	if err := s.config.CreateBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// Stop kills the server, as a crash or an outage would: requests in flight break and new ones
// are refused. The data stays for Restart.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if !s.kill() {
		t.Fatalf("versitygw on %s did not exit within %s of SIGKILL", s.Endpoint, exitTimeout)
	}
}

// Restart starts the server again on the same port over the same data, after stopping it if it
// runs, and returns once it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	if err := s.start(); err != nil {
		t.Fatalf("restarting versitygw on %s: %v (log: %s)", s.Endpoint, err, s.logPath)
	}
}

// start runs versitygw with s.config and waits until it answers; the log is appended to, so it
// tells every run.
func (s *Server) start() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	argv := s.config.Argv(s.toolsDir)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = s.config.Env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, killed with the test binary should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	s.running = p
	if err := s.config.WaitReady(context.Background(), readyTimeout, p.done); err != nil {
		s.kill()
		return err
	}
	return nil
}

// kill SIGKILLs the server's process group and reports whether it exited in time.
func (s *Server) kill() bool {
	p := s.running
	if p == nil {
		return true
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		s.running = nil
		return true
	case <-time.After(exitTimeout):
		return false
	}
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// toolsDir is bin/tools of the repository above the working folder, where hack/test-tools.sh
// builds; a test runs in its package's folder.
func toolsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "hack", "tools")); err == nil {
				return filepath.Join(dir, "bin", "tools"), nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod and hack/tools) not found above the working folder")
		}
		dir = parent
	}
}
