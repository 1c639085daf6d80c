package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a child the sandbox started in its own process group, with its pid recorded in a
// file so that `sandbox down` finds it even after the sandbox itself died.
type process struct {
	name    string
	cmd     *exec.Cmd
	pidFile string
	done    chan struct{}
	err     error
}

// startProcess runs argv with output to logPath, in a new process group.
func startProcess(name string, argv []string, env []string, dir, logPath, pidFile string) (*process, error) {
	return startProcessIn(name, argv, env, dir, logPath, pidFile, 0)
}

// startProcessIn is startProcess in the new namespaces cloneflags asks for (CLONE_NEW*).
func startProcessIn(name string, argv []string, env []string, dir, logPath, pidFile string, cloneflags uintptr) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Cloneflags: cloneflags}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, pidFile: pidFile, done: make(chan struct{})}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			_ = p.kill()
			logFile.Close()
			return nil, err
		}
	}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		if pidFile != "" {
			_ = os.Remove(pidFile)
		}
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group and SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.kill()
		<-p.done
	}
}

func (p *process) kill() error {
	return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// killRecorded kills the process groups named by pid files under dir whose command line still
// contains want (so a reused pid of an unrelated program is left alone), and removes the files.
func killRecorded(dir string, want string) (int, error) {
	killed := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".pid") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err == nil && pid > 1 && processMatches(pid, want) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
		_ = os.Remove(path)
		return nil
	})
	return killed, err
}

// processMatches reports whether pid is alive and its command line or working folder mentions
// want.
func processMatches(pid int, want string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if strings.Contains(string(cmdline), want) {
		return true
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return err == nil && strings.HasPrefix(cwd, want)
}

// KillLeftovers kills every process a sandbox in dir recorded that is still running.
func KillLeftovers(dir string) (int, error) {
	killed := 0
	for _, sub := range []string{"pids", "pods"} {
		n, err := killRecorded(filepath.Join(dir, sub), dir)
		if err != nil && !os.IsNotExist(err) {
			return killed, err
		}
		killed += n
	}
	return killed, nil
}
