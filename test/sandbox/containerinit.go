package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// An image container is started as this program again (/proc/self/exe) in new mount and UTS
// namespaces, with containerInitEnv naming its containerInit file. The package's init function
// sees it before anything else runs, sets up the container's view and replaces itself with the
// container's process: the pid the agent records is the container's. Mounts made in the
// container's mount namespace disappear with it; nothing is mounted on the host.
const containerInitEnv = "SANDBOX_CONTAINER_INIT"

// containerInit is what the init needs to become the container's process.
type containerInit struct {
	// Rootfs is the unpacked image on the host.
	Rootfs string
	// Mounts are bound into the root file system, in order.
	Mounts []bindMount
	// ReadOnlyRoot remounts the root file system read-only (readOnlyRootFilesystem).
	ReadOnlyRoot bool
	Hostname     string
	UID, GID     uint32
	Groups       []uint32
	// NoNewPrivs sets no_new_privs (allowPrivilegeEscalation: false).
	NoNewPrivs bool
	Argv, Env  []string
	Dir        string
}

// bindMount binds Source (a host path) at Target (a path inside the container).
type bindMount struct {
	Source, Target string
	ReadOnly       bool
}

// Device files a container finds in /dev, bound from the host's.
var containerDevices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}

func init() {
	spec := os.Getenv(containerInitEnv)
	if spec == "" {
		return
	}
	err := execContainer(spec)
	// Only a failure returns; the message is the first line of the container's log.
	fmt.Fprintln(os.Stderr, "sandbox: starting the container:", err)
	os.Exit(128)
}

// execContainer sets up the namespaces this process was started in and executes the container's
// command; it returns only on failure.
func execContainer(specFile string) error {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	var c containerInit
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	// no_new_privs and the parent-death signal belong to the thread that executes the command.
	runtime.LockOSThread()
	// Nothing mounted here may propagate to the host's namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := syscall.Mount(c.Rootfs, c.Rootfs, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the root file system: %w", err)
	}
	for _, m := range c.Mounts {
		target := filepath.Join(c.Rootfs, m.Target)
		if err := syscall.Mount(m.Source, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s at %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("making %s read-only: %w", m.Target, err)
			}
		}
	}
	if err := syscall.Mount("proc", filepath.Join(c.Rootfs, "proc"), "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if c.ReadOnlyRoot {
		if err := syscall.Mount("", c.Rootfs, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making the root file system read-only: %w", err)
		}
	}
	if c.Hostname != "" {
		if err := syscall.Sethostname([]byte(c.Hostname)); err != nil {
			return fmt.Errorf("setting the host name: %w", err)
		}
	}
	if err := syscall.Chroot(c.Rootfs); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := syscall.Chdir(c.Dir); err != nil {
		return fmt.Errorf("working folder %s: %w", c.Dir, err)
	}
	groups := make([]int, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = int(g)
	}
	// The syscall package applies these to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(int(c.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", c.GID, err)
	}
	if err := syscall.Setuid(int(c.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", c.UID, err)
	}
	const prSetPdeathsig, prSetNoNewPrivs = 1, 38
	if c.NoNewPrivs {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); errno != 0 {
			return fmt.Errorf("no_new_privs: %w", errno)
		}
	}
	// Changing the user cleared the parent-death signal the agent asked for; ask again.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGKILL), 0); errno != 0 {
		return fmt.Errorf("parent-death signal: %w", errno)
	}
	if len(c.Argv) == 0 {
		return fmt.Errorf("no command: the image has no entrypoint or cmd and the container no command")
	}
	path, err := lookPathIn(c.Argv[0], c.Env)
	if err != nil {
		return err
	}
	return syscall.Exec(path, c.Argv, c.Env)
}

// lookPathIn finds command in the PATH of env, inside the container's root, as a runtime does.
func lookPathIn(command string, env []string) (string, error) {
	if strings.Contains(command, "/") {
		return command, nil
	}
	searchPath := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			searchPath = v
		}
	}
	for _, dir := range filepath.SplitList(searchPath) {
		candidate := filepath.Join(dir, command)
		if fi, err := os.Stat(candidate); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %s", command, searchPath)
}
