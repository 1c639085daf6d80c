package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Probe and restart timing. Probe periods are capped at probePeriodCap so tests need not wait
// for production-sized periods; everything else follows the pod spec.
const (
	tick            = 250 * time.Millisecond
	probePeriodCap  = time.Second
	maxGracePeriod  = 5 * time.Second
	maxRestartDelay = 10 * time.Second
	setUpRetry      = time.Second
)

// podRunner runs one pod's containers.
type podRunner struct {
	a   *agent
	pod *corev1.Pod
	// podIP is the node's address on the host network, else the pod's own.
	podIP      string
	dir        string
	volumes    map[string]string
	containers []*containerRun
	started    metav1.Time
	// written is the status last written; the API server may add fields, so compare with ours.
	written *corev1.PodStatus
	// tokenRefresh is when each projected volume's token is due for renewal.
	tokenRefresh map[string]time.Time
	// keyFilesWritten are the files last written into each Secret and ConfigMap volume, and
	// keyRefreshDue when they are next compared with their objects.
	keyFilesWritten map[string]map[string]volumeFile
	keyRefreshDue   time.Time
	// initContainers run one at a time, in order, each to a zero exit, before containers start.
	initContainers []*containerRun
	// deleting is set once a run-to-completion pod is being deleted: nothing restarts.
	deleting bool
	// finished is set once a terminal phase is written: the runner then only awaits deletion.
	finished bool
}

// containerRun is one container: its process, restarts and readiness.
type containerRun struct {
	spec        corev1.Container
	argv, env   []string
	cwd         string
	cloneflags  uintptr
	proc        *process
	notExecuted bool
	// image is set when the container runs from an OCI archive (container.go).
	image *resolvedImage
	// waiting says why the last start could not set the container up (volumes, environment).
	waiting   *corev1.ContainerStateWaiting
	restarts  int32
	lastExit  *corev1.ContainerStateTerminated
	startedAt metav1.Time
	nextStart time.Time
	ready     bool
	nextProbe time.Time
	failures  int32
	successes int32
	// Liveness, for image containers: a container failing it is stopped and restarted.
	nextLive     time.Time
	liveFailures int32
	killing      bool
	// previousExit is the exit before lastExit: the last state of a container that exited for good.
	previousExit *corev1.ContainerStateTerminated
}

func newPodRunner(a *agent, pod *corev1.Pod, podIP string) *podRunner {
	return &podRunner{a: a, pod: pod, podIP: podIP, dir: a.podDir(pod), started: metav1.NewTime(time.Now())}
}

func (r *podRunner) run(ctx context.Context, latest <-chan *corev1.Pod) {
	if err := r.prepare(ctx); err != nil {
		r.a.warn(ctx, r.pod, "FailedMount", err.Error())
	}
	// Image containers' root file systems go with the pod; their logs stay.
	defer os.RemoveAll(filepath.Join(r.dir, "containers"))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		ticks := ticker.C
		if r.finished {
			ticks = nil
		}
		select {
		case <-ctx.Done():
			r.stopAll(maxGracePeriod)
			return
		case pod := <-latest:
			r.pod = pod
			if pod.DeletionTimestamp != nil {
				grace := maxGracePeriod
				if pod.DeletionGracePeriodSeconds != nil {
					grace = min(grace, time.Duration(*pod.DeletionGracePeriodSeconds)*time.Second)
				}
				r.stopAll(grace)
				// Not ctx: the pod's removal, which this call brings about, cancels it, and the
				// call would report a delete that succeeded as failed.
				deleteCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				r.reportTermination(deleteCtx)
				r.a.finishDeletion(deleteCtx, pod)
				cancel()
				return
			}
		case <-ticks:
		}
		if !r.finished {
			r.step(ctx)
		}
	}
}

// prepare makes the pod's folders and resolves its volumes to local folders. Secret and
// ConfigMap volumes are filled when a container mounting them starts.
func (r *podRunner) prepare(ctx context.Context) error {
	// A pod without volumes still needs its folder for logs and pid files.
	if err := os.MkdirAll(r.dir, 0o777); err != nil {
		return err
	}
	r.volumes = map[string]string{}
	for _, v := range r.pod.Spec.Volumes {
		path := filepath.Join(r.dir, "volumes", v.Name)
		switch {
		case v.HostPath != nil:
			path = v.HostPath.Path
		case v.PersistentVolumeClaim != nil:
			bound, err := r.claimFolder(ctx, v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return err
			}
			path = bound
		}
		if err := os.MkdirAll(path, 0o777); err != nil {
			return err
		}
		r.volumes[v.Name] = path
	}
	for _, c := range r.pod.Spec.InitContainers {
		r.initContainers = append(r.initContainers, &containerRun{spec: c, cwd: r.workDir(c)})
	}
	for _, c := range r.pod.Spec.Containers {
		r.containers = append(r.containers, &containerRun{spec: c, cwd: r.workDir(c)})
	}
	return nil
}

// claimFolder waits, bounded, for the claim to be bound and returns its volume's host folder.
func (r *podRunner) claimFolder(ctx context.Context, claim string) (string, error) {
	folder := ""
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pvc, err := r.a.client.CoreV1().PersistentVolumeClaims(r.pod.Namespace).Get(ctx, claim, metav1.GetOptions{})
		if err != nil || pvc.Spec.VolumeName == "" {
			return false, nil
		}
		pv, err := r.a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil || pv.Spec.HostPath == nil {
			return false, nil
		}
		folder = pv.Spec.HostPath.Path
		return true, nil
	})
	switch {
	case err == nil:
		return folder, nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	default:
		return "", fmt.Errorf("claim %s is not bound to a host-path volume", claim)
	}
}

// workDir is where the container's process runs: its workingDir when that is on a volume, else
// its first writable volume (redis-server writes relative paths there), else the pod's folder.
func (r *podRunner) workDir(c corev1.Container) string {
	if c.WorkingDir != "" {
		if local := r.localPath(c, c.WorkingDir); local != c.WorkingDir {
			return local
		}
	}
	keyVolumes := map[string]bool{}
	for _, v := range r.pod.Spec.Volumes {
		keyVolumes[v.Name] = isKeyVolume(v)
	}
	for _, m := range c.VolumeMounts {
		if local, ok := r.volumes[m.Name]; ok && !m.ReadOnly && !keyVolumes[m.Name] {
			return local
		}
	}
	return r.dir
}

// setUp does what a kubelet does before each start of a container: it refreshes the Secret and
// ConfigMap volumes the container mounts and resolves its environment and command line, so a
// restarted container sees current values. A container whose image an OCI archive holds runs
// from that image instead (container.go). It returns why the container cannot start.
func (r *podRunner) setUp(ctx context.Context, c *containerRun) *corev1.ContainerStateWaiting {
	c.image, c.cloneflags = nil, 0
	img, err := r.a.images.resolve(c.spec.Image)
	switch {
	case img != nil:
		return r.setUpImage(ctx, c, img)
	case len(c.spec.Command) == 0 && err == nil:
		return &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: fmt.Sprintf(
			"container %s has no command, and no OCI archive in %s holds image %q (make image builds bin/redis-operator.oci.tar)",
			c.spec.Name, r.a.images.dir, c.spec.Image)}
	case err != nil && (len(c.spec.Command) == 0 || !errors.Is(err, errUnreadableArchives)):
		return &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}
	}
	for _, m := range c.spec.VolumeMounts {
		if err := r.fillKeyVolume(ctx, m.Name); err != nil {
			return &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: err.Error()}
		}
	}
	vars, err := r.containerEnv(ctx, c.spec)
	if err != nil {
		return &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
	}
	c.env = c.env[:0]
	for k, v := range vars {
		c.env = append(c.env, k+"="+v)
	}
	c.env = append(c.env, "PATH="+os.Getenv("PATH"), "HOME="+r.dir, "SANDBOX_BIND_ADDRESS="+r.podIP)
	c.cwd = r.workDir(c.spec)
	argv := append(append([]string{}, c.spec.Command...), c.spec.Args...)
	for i := range argv {
		argv[i] = r.localPath(c.spec, expand(argv[i], vars))
	}
	argv[0] = hostProgram(argv[0])
	if _, err := exec.LookPath(argv[0]); err != nil {
		c.notExecuted = true
		r.a.warn(ctx, r.pod, "NotExecuted", fmt.Sprintf(
			"container %s: command %q is not on this sandbox host's PATH; it was not executed and is reported running", c.spec.Name, argv[0]))
		return nil
	}
	// Host processes share one machine: redis-server listens only on its pod's address.
	if filepath.Base(argv[0]) == "redis-server" {
		argv = append(argv, "--bind", r.podIP)
	}
	c.argv = argv
	return nil
}

// step runs the init containers, then restarts exited containers as the restart policy says,
// runs readiness probes and writes the pod's status.
func (r *podRunner) step(ctx context.Context) {
	now := time.Now()
	initialized := r.stepInit(ctx, now)
	for _, c := range r.containers {
		if c.notExecuted || !initialized {
			continue
		}
		if c.reap() {
			if !r.shouldRestart(c.lastExit.ExitCode) {
				continue
			}
			c.restarts++
			c.nextStart = now.Add(restartDelay(c.restarts))
		}
		if c.proc == nil && !c.nextStart.IsZero() && now.Before(c.nextStart) {
			continue
		}
		if c.proc == nil && (c.lastExit == nil || r.shouldRestart(c.lastExit.ExitCode)) {
			r.start(ctx, c)
		}
		if c.proc != nil {
			r.probe(c, now)
			if c.image != nil {
				r.checkLiveness(ctx, c, now)
			}
		}
	}
	r.refreshTokens(ctx, now)
	r.refreshKeyVolumes(ctx, now)
	status := r.status()
	if r.written != nil && equality.Semantic.DeepEqual(*r.written, status) {
		return
	}
	if pod, err := r.a.updateStatus(ctx, r.pod, status); err == nil {
		r.pod, r.written = pod, &status
		if isTerminal(status.Phase) {
			r.finish()
		}
	} else if apierrors.IsNotFound(err) {
		r.stopAll(maxGracePeriod)
	}
}

func (r *podRunner) shouldRestart(exitCode int32) bool {
	if r.deleting {
		return false
	}
	switch r.pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

func (r *podRunner) start(ctx context.Context, c *containerRun) {
	if waiting := r.setUp(ctx, c); waiting != nil {
		if c.waiting == nil || c.waiting.Message != waiting.Message {
			reason := "Failed"
			if waiting.Reason == "ContainerCreating" {
				reason = "FailedMount"
			}
			r.a.warn(ctx, r.pod, reason, waiting.Message)
		}
		c.waiting, c.nextStart = waiting, time.Now().Add(setUpRetry)
		return
	}
	c.waiting = nil
	if c.notExecuted {
		return
	}
	proc, err := startProcessIn(c.spec.Name, c.argv, c.env, c.cwd,
		filepath.Join(r.dir, c.spec.Name+".log"), filepath.Join(r.dir, c.spec.Name+".pid"), c.cloneflags)
	if err != nil {
		r.a.warn(ctx, r.pod, "FailedStart", err.Error())
		c.nextStart = time.Now().Add(maxRestartDelay)
		return
	}
	c.proc, c.startedAt, c.nextStart = proc, metav1.NewTime(time.Now()), time.Time{}
	c.nextProbe = time.Now()
	if p := c.spec.ReadinessProbe; p != nil && p.InitialDelaySeconds > 0 {
		c.nextProbe = c.nextProbe.Add(min(time.Duration(p.InitialDelaySeconds)*time.Second, 2*probePeriodCap))
	}
	if p := c.spec.LivenessProbe; p != nil {
		c.nextLive = time.Now().Add(time.Duration(p.InitialDelaySeconds) * time.Second)
	}
}

// stopAll stops every container: SIGTERM, then SIGKILL after grace.
func (r *podRunner) stopAll(grace time.Duration) {
	for _, c := range r.allContainers() {
		if c.proc != nil {
			c.proc.stop(grace)
		}
	}
}
