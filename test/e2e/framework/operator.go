package framework

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Operator is bin/redis-operator running against the sandbox.
type Operator struct {
	HTTPAddr    string
	MetricsAddr string
	LogPath     string
	cmd         *exec.Cmd
	done        chan struct{}
}

var buildOnce sync.Once
var buildErr error

// StartOperator installs the CRD, builds bin/redis-operator once per test binary and runs it
// against the sandbox with extra args; the test's cleanup stops it.
func (f *Framework) StartOperator(t testing.TB, args ...string) *Operator {
	t.Helper()
	f.InstallCRD(t)
	return f.runOperator(t, args...)
}

// runOperator runs the operator with f's kubeconfig, which must be able to read the CRD's
// clusters.
func (f *Framework) runOperator(t testing.TB, args ...string) *Operator {
	t.Helper()
	bin := filepath.Join(f.Root, "bin", "redis-operator")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/redis-operator")
		cmd.Dir = f.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the operator: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "operator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{
		"--kubeconfig", f.Kubeconfig, "--http-addr", httpAddr, "--metrics-addr", metricsAddr, "--log-level", "debug",
	}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	op := &Operator{HTTPAddr: httpAddr, MetricsAddr: metricsAddr, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(op.done) }()
	t.Cleanup(func() {
		op.Stop()
		if t.Failed() {
			if raw, err := os.ReadFile(logPath); err == nil {
				t.Logf("operator log (last 4000 bytes):\n%s", tail(raw, 4000))
				kept := filepath.Join(f.Root, ".sandbox", "logs", "operator-"+sanitize(t.Name())+".log")
				if os.WriteFile(kept, raw, 0o644) == nil {
					t.Logf("whole operator log kept at %s", kept)
				}
			}
		}
	})
	return op
}

// Kill ends the operator with SIGKILL, as a crash would.
func (o *Operator) Kill() {
	_ = syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
	<-o.done
}

// Stop asks the operator to shut down and waits, killing it after 30 seconds.
func (o *Operator) Stop() {
	select {
	case <-o.done:
		return
	default:
	}
	_ = syscall.Kill(o.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(30 * time.Second):
		o.Kill()
	}
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func sanitize(name string) string {
	out := []rune(name)
	for i, r := range out {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			out[i] = '_'
		}
	}
	return string(out)
}
