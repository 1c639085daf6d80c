package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// An image container runs the image's entrypoint from its unpacked layers, chrooted, as the
// image's user (or the pod's runAsUser), with its volumes, service-account token and /proc bound
// in its own mount namespace and the pod's name as host name. It shares the host's network, as
// every sandbox pod does, and reaches the API server at KUBERNETES_SERVICE_HOST/PORT, the
// loopback address its serving certificate names. The sandbox must run as root for this.

// setUpImage prepares a fresh root file system for the container from img and the init that
// starts it there; the process itself starts like any other.
func (r *podRunner) setUpImage(ctx context.Context, c *containerRun, img *resolvedImage) *corev1.ContainerStateWaiting {
	if os.Geteuid() != 0 {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: fmt.Sprintf(
			"%s runs from an image, which needs the sandbox to run as root (chroot, mount namespace); it runs as uid %d", c.spec.Name, os.Geteuid())}
	}
	for _, m := range c.spec.VolumeMounts {
		if err := r.fillKeyVolume(ctx, m.Name); err != nil {
			return &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: err.Error()}
		}
		if err := r.fillProjectedVolume(ctx, m.Name); err != nil {
			return &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: err.Error()}
		}
	}
	vars, err := r.containerEnv(ctx, c.spec)
	if err != nil {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
	}
	env := r.imageEnv(img.config, vars)
	uid, gid, err := containerUser(r.pod, c.spec, img.config)
	if err != nil {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
	}
	dir := filepath.Join(r.dir, "containers", c.spec.Name)
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.RemoveAll(dir); err != nil {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
	}
	if err := img.unpack(rootfs); err != nil {
		return &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}
	}
	mounts, err := r.imageMounts(c.spec, rootfs)
	if err != nil {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
	}
	sc := c.spec.SecurityContext
	init := containerInit{
		Rootfs:       rootfs,
		Mounts:       mounts,
		ReadOnlyRoot: sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
		Hostname:     r.hostname(),
		UID:          uid,
		GID:          gid,
		Groups:       supplementalGroups(r.pod),
		NoNewPrivs:   sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		Argv:         imageArgv(c.spec, img.config, env),
		Env:          envList(env),
		Dir:          firstNonEmpty(c.spec.WorkingDir, img.config.WorkingDir, "/"),
	}
	raw, err := json.Marshal(init)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "init.json"), raw, 0o600)
	}
	if err != nil {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
	}
	c.image = img
	c.argv = []string{"/proc/self/exe"}
	c.env = []string{containerInitEnv + "=" + filepath.Join(dir, "init.json")}
	c.cwd = rootfs
	c.cloneflags = syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS
	how := "its tag"
	if !img.exact {
		how = "the newest archive of that name; no archive has its tag"
	}
	r.a.event(ctx, r.pod, corev1.EventTypeNormal, "Pulled", fmt.Sprintf(
		"Container %s: image %q is %s (%s, %s), unpacked for linux/%s", c.spec.Name, c.spec.Image, img, how, img.manifest.Digest, runtime.GOARCH))
	return nil
}

// imageEnv is the container's environment: the image's, then the API server's address as a
// kubelet gives it, the host name, then the container's own variables, which win.
func (r *podRunner) imageEnv(config imageConfig, vars map[string]string) map[string]string {
	env := map[string]string{}
	for _, kv := range config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	port := strconv.Itoa(apiServerPort)
	env["KUBERNETES_SERVICE_HOST"] = "127.0.0.1"
	env["KUBERNETES_SERVICE_PORT"] = port
	env["KUBERNETES_SERVICE_PORT_HTTPS"] = port
	env["KUBERNETES_PORT"] = "tcp://127.0.0.1:" + port
	env["HOSTNAME"] = r.hostname()
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = "/"
	}
	for k, v := range vars {
		env[k] = v
	}
	return env
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// imageArgv is what the container executes: its command, else the image's entrypoint; then its
// args, else (with no command) the image's cmd; $(VAR) expanded as a kubelet does.
func imageArgv(c corev1.Container, config imageConfig, env map[string]string) []string {
	var argv []string
	switch {
	case len(c.Command) > 0:
		argv = append(argv, c.Command...)
		argv = append(argv, c.Args...)
	case len(c.Args) > 0:
		argv = append(append(argv, config.Entrypoint...), c.Args...)
	default:
		argv = append(append(argv, config.Entrypoint...), config.Cmd...)
	}
	for i := range argv {
		argv[i] = expand(argv[i], env)
	}
	return argv
}

// containerUser is the user and group the container runs as: the container's security context,
// else the pod's, else the image's numeric USER. runAsNonRoot refuses root, as a kubelet does.
func containerUser(pod *corev1.Pod, c corev1.Container, config imageConfig) (uint32, uint32, error) {
	var uid, gid *int64
	var nonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil {
		uid, gid, nonRoot = firstSet(sc.RunAsUser, uid), firstSet(sc.RunAsGroup, gid), firstSet(sc.RunAsNonRoot, nonRoot)
	}
	user, group, hasGroup := strings.Cut(config.User, ":")
	imageUID, imageGID := int64(0), int64(0)
	if user != "" {
		n, err := strconv.ParseUint(user, 10, 32)
		if err != nil && uid == nil {
			return 0, 0, fmt.Errorf("the image's user %q is not numeric; the sandbox does not look names up: set runAsUser", config.User)
		}
		imageUID = int64(n)
	}
	if hasGroup {
		n, err := strconv.ParseUint(group, 10, 32)
		if err != nil && gid == nil {
			return 0, 0, fmt.Errorf("the image's group %q is not numeric; set runAsGroup", config.User)
		}
		imageGID = int64(n)
	}
	if uid == nil {
		uid = &imageUID
	}
	if gid == nil {
		gid = &imageGID
	}
	if nonRoot != nil && *nonRoot && *uid == 0 {
		return 0, 0, errors.New("container has runAsNonRoot and image will run as root")
	}
	return uint32(*uid), uint32(*gid), nil
}

func supplementalGroups(pod *corev1.Pod) []uint32 {
	var out []uint32
	if psc := pod.Spec.SecurityContext; psc != nil {
		for _, g := range psc.SupplementalGroups {
			out = append(out, uint32(g))
		}
		if psc.FSGroup != nil {
			out = append(out, uint32(*psc.FSGroup))
		}
	}
	return out
}

// hostname is the pod's host name: its spec's, else its name; on the host network, the node's.
func (r *podRunner) hostname() string {
	if r.pod.Spec.HostNetwork {
		return r.a.node.name
	}
	return firstNonEmpty(r.pod.Spec.Hostname, r.pod.Name)
}

// imageMounts makes, inside rootfs, the mount points of the container's volumes, /proc and the
// device files, and returns the bind mounts the init makes. They are made through an os.Root,
// so a symbolic link in the image cannot put one outside the root file system.
func (r *podRunner) imageMounts(c corev1.Container, rootfs string) ([]bindMount, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	inRoot := func(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }
	if err := root.MkdirAll("proc", 0o555); err != nil {
		return nil, err
	}
	var mounts []bindMount
	makePoint := func(source, target string, readOnly bool) error {
		fi, err := os.Stat(source)
		if err != nil {
			return err
		}
		rel := inRoot(target)
		if rel == "" {
			return fmt.Errorf("cannot mount over the root file system")
		}
		if fi.IsDir() {
			err = root.MkdirAll(rel, 0o755)
		} else if err = root.MkdirAll(path.Dir(rel), 0o755); err == nil {
			var f *os.File
			if f, err = root.OpenFile(rel, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("mount point %s: %w", target, err)
		}
		mounts = append(mounts, bindMount{Source: source, Target: "/" + rel, ReadOnly: readOnly})
		return nil
	}
	for _, dev := range containerDevices {
		if err := makePoint(dev, dev, false); err != nil {
			return nil, err
		}
	}
	// Shallower mount points first, so that a mount inside another lands on top of it.
	volumeMounts := append([]corev1.VolumeMount(nil), c.VolumeMounts...)
	sort.SliceStable(volumeMounts, func(i, j int) bool {
		return strings.Count(path.Clean(volumeMounts[i].MountPath), "/") < strings.Count(path.Clean(volumeMounts[j].MountPath), "/")
	})
	for _, m := range volumeMounts {
		source, ok := r.volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of mount %s is not in the pod", m.Name, m.MountPath)
		}
		if m.SubPath != "" {
			if !filepath.IsLocal(m.SubPath) {
				return nil, fmt.Errorf("subPath %q leaves volume %s", m.SubPath, m.Name)
			}
			source = filepath.Join(source, m.SubPath)
			if _, err := os.Stat(source); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(source, 0o777); err != nil {
					return nil, err
				}
			}
		}
		if err := makePoint(source, m.MountPath, m.ReadOnly); err != nil {
			return nil, err
		}
	}
	return mounts, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstSet[T any](values ...*T) *T {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return nil
}
