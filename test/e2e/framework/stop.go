package framework

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// StopNode stops the redis-server serving addr with SIGSTOP, as a hung or descheduled process
// would be: its port still accepts connections, nothing answers. The returned func resumes it
// (SIGCONT); the test's cleanup resumes it too, so a failed test leaves no stopped node behind.
func StopNode(t testing.TB, addr string) (resume func()) {
	t.Helper()
	pid, err := serverPID(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP to redis-server %d (%s): %v", pid, addr, err)
	}
	resumed := false
	resume = func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	return resume
}

// serverPID finds the redis-server process serving addr by its command line: the title Redis
// gives itself ("redis-server ip:port [cluster]"), or before that the --bind and --port it was
// started with (conf.Server.Args).
func serverPID(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range cmdlines {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		args := strings.Fields(strings.ReplaceAll(string(raw), "\x00", " "))
		if len(args) < 2 || filepath.Base(args[0]) != "redis-server" {
			continue
		}
		if args[1] == addr || (flagValue(args, "--port") == port && flagValue(args, "--bind") == host) {
			return strconv.Atoi(filepath.Base(filepath.Dir(path)))
		}
	}
	return 0, fmt.Errorf("no redis-server process serves %s", addr)
}

func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}
