// Command sandbox starts and stops the local Kubernetes sandbox and its S3 server: `up` runs it
// in the background and returns once it is ready, `down` stops every process it started, `run`
// keeps it in the foreground, `status` says whether it is up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"redis-operator/test/sandbox"
)

const usage = "usage: sandbox up|down|run|status [--dir .sandbox] [--bin-dir bin/k8s] [--nodes 3]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("sandbox", flag.ExitOnError)
	dir := fs.String("dir", ".sandbox", "Folder for state, logs and pids.")
	binDir := fs.String("bin-dir", "bin/k8s", "Folder of etcd and the Kubernetes binaries.")
	nodes := fs.Int("nodes", 3, "Number of nodes.")
	_ = fs.Parse(os.Args[2:])
	absDir, err := filepath.Abs(*dir)
	if err == nil {
		opts := sandbox.Options{Dir: absDir, BinDir: *binDir, Nodes: *nodes}
		switch os.Args[1] {
		case "up":
			err = up(opts)
		case "down":
			err = down(absDir)
		case "run":
			err = run(opts)
		case "status":
			err = status(absDir)
		default:
			err = errors.New(usage)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func pidFile(dir string) string   { return filepath.Join(dir, "sandbox.pid") }
func readyFile(dir string) string { return filepath.Join(dir, "sandbox.ready") }

// daemonPid returns the pid of a running sandbox daemon for dir, or 0.
func daemonPid(dir string) int {
	raw, err := os.ReadFile(pidFile(dir))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "sandbox") {
		return 0
	}
	return pid
}

// up starts `sandbox run` detached and waits until it reports ready.
func up(opts sandbox.Options) error {
	if pid := daemonPid(opts.Dir); pid != 0 {
		fmt.Printf("sandbox already up (pid %d); kubeconfig: %s\n%s\n", pid, filepath.Join(opts.Dir, "kubeconfig"),
			sandbox.S3Settings(opts.Dir))
		return nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return err
	}
	_ = os.Remove(readyFile(opts.Dir))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(opts.Dir, "sandbox.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, "run", "--dir", opts.Dir, "--bin-dir", opts.BinDir, "--nodes", strconv.Itoa(opts.Nodes))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(3 * time.Minute)
	for {
		if _, err := os.Stat(readyFile(opts.Dir)); err == nil {
			fmt.Printf("sandbox up in %s (pid %d); kubeconfig: %s\n%s\n", time.Since(started).Round(100*time.Millisecond),
				cmd.Process.Pid, filepath.Join(opts.Dir, "kubeconfig"), sandbox.S3Settings(opts.Dir))
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("sandbox exited while starting (%v); see %s", err, logFile.Name())
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("sandbox not ready after 3 minutes; see %s", logFile.Name())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// run starts the sandbox and keeps it up until SIGTERM or SIGINT.
func run(opts sandbox.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := os.WriteFile(pidFile(opts.Dir), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer os.Remove(pidFile(opts.Dir))
	defer os.Remove(readyFile(opts.Dir))
	s, err := sandbox.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Stop()
	if err := os.WriteFile(readyFile(opts.Dir), nil, 0o644); err != nil {
		return err
	}
	fmt.Printf("sandbox ready: kubeconfig %s, nodes %v\n%s\n", s.Kubeconfig(), s.NodeAddresses(), sandbox.S3Settings(opts.Dir))
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("sandbox stopping")
			return nil
		case <-ticker.C:
			if err := s.Failed(); err != nil {
				return err
			}
		}
	}
}

// down stops the daemon, which stops everything it started, then kills anything recorded that
// is still alive (the daemon may have died without cleaning up).
func down(dir string) error {
	if pid := daemonPid(dir); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(60 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	killed, err := sandbox.KillLeftovers(dir)
	if err != nil {
		return err
	}
	if killed > 0 {
		fmt.Printf("killed %d leftover processes\n", killed)
	}
	fmt.Println("sandbox down")
	return nil
}

func status(dir string) error {
	if pid := daemonPid(dir); pid != 0 {
		fmt.Printf("sandbox up (pid %d); kubeconfig: %s\n%s\n", pid, filepath.Join(dir, "kubeconfig"), sandbox.S3Settings(dir))
		return nil
	}
	fmt.Println("sandbox down")
	return nil
}
