package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// e2eLock is the lock the e2e framework takes: sandboxes listen on fixed ports.
var e2eLock = filepath.Join(os.TempDir(), "redis-operator-e2e.lock")

// The real control plane with the agent: init containers, run-to-completion pods, and the
// kube-controller-manager's Job controller judging Jobs by the status the agent writes.
func TestSandboxRunsInitContainersAndJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	lockSandbox(t)
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(APIServerURL, "https://"), time.Second); err == nil {
		conn.Close()
		t.Skip("a sandbox already listens at " + APIServerURL + " (make sandbox-down stops it); this test runs its own agent")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// No image archives: every container runs as a host process.
	s, err := Start(ctx, Options{Dir: dir, BinDir: filepath.Join(root, "bin", "k8s"), Nodes: 1, ImageDir: t.TempDir()})
	require.NoError(t, err, "starting the sandbox (make sandbox-binaries builds what it needs)")
	t.Cleanup(s.Stop)
	ns := metav1.NamespaceDefault

	t.Run("init containers share a volume, in order", func(t *testing.T) {
		pod := scriptPod("init-order", corev1.RestartPolicyNever,
			[]corev1.Container{
				shellContainer("first", "sleep 2; echo one > first"),
				shellContainer("second", "cat first > second && echo two >> second"),
			},
			corev1.Container{Name: "main", Image: "busybox", Command: []string{"cat"}, Args: []string{"/work/first", "/work/second"},
				VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}})
		pod, err := s.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		waitPod(t, s.client, pod, 30*time.Second, "Pending, the first init container running", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodPending && len(p.Status.InitContainerStatuses) == 2 &&
				p.Status.InitContainerStatuses[0].State.Running != nil &&
				podCondition(p, corev1.PodInitialized).Reason == "ContainersNotInitialized"
		})
		done := waitPod(t, s.client, pod, 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return isTerminal(p.Status.Phase) })
		require.Equal(t, corev1.PodSucceeded, done.Status.Phase, "%+v", done.Status)
		for _, cs := range done.Status.InitContainerStatuses {
			require.Equal(t, "Completed", cs.State.Terminated.Reason, cs.Name)
		}
		require.Equal(t, corev1.ConditionFalse, podCondition(done, corev1.PodReady).Status)
		logged, err := os.ReadFile(filepath.Join(dir, "pods", fmt.Sprintf("%s_%s_%s", ns, pod.Name, pod.UID), "main.log"))
		require.NoError(t, err)
		require.Equal(t, "one\none\ntwo\n", string(logged))
	})

	t.Run("failed init container fails a Never pod", func(t *testing.T) {
		pod := scriptPod("init-fails", corev1.RestartPolicyNever,
			[]corev1.Container{shellContainer("restore", "exit 3")}, shellContainer("main", "echo ran"))
		pod, err := s.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		done := waitPod(t, s.client, pod, 30*time.Second, "Failed", func(p *corev1.Pod) bool { return isTerminal(p.Status.Phase) })
		require.Equal(t, corev1.PodFailed, done.Status.Phase)
		restore := done.Status.InitContainerStatuses[0].State.Terminated
		require.NotNil(t, restore)
		require.Equal(t, int32(3), restore.ExitCode)
		require.Equal(t, "Error", restore.Reason)
		require.Equal(t, "PodInitializing", done.Status.ContainerStatuses[0].State.Waiting.Reason)
		_, err = os.Stat(filepath.Join(dir, "pods", fmt.Sprintf("%s_%s_%s", ns, pod.Name, pod.UID), "main.log"))
		require.True(t, os.IsNotExist(err), "the container never started")
	})

	t.Run("Job whose pod exits 0 completes", func(t *testing.T) {
		job := createJob(t, s.client, "backup-ok", "echo backed up", nil)
		waitJob(t, s.client, job, batchv1.JobComplete, "")
		pods := jobPods(t, s.client, job)
		require.Len(t, pods, 1)
		require.Equal(t, corev1.PodSucceeded, pods[0].Status.Phase)
		require.Equal(t, "PodCompleted", podCondition(&pods[0], corev1.PodReady).Reason)
		waitPod(t, s.client, &pods[0], 30*time.Second, "the Job controller to remove its finalizer", func(p *corev1.Pod) bool {
			return len(p.Finalizers) == 0
		})
	})

	t.Run("Job whose pod exits 1 fails", func(t *testing.T) {
		job := createJob(t, s.client, "backup-fails", "exit 1", nil)
		waitJob(t, s.client, job, batchv1.JobFailed, "BackoffLimitExceeded")
		pods := jobPods(t, s.client, job)
		require.Len(t, pods, 1)
		require.Equal(t, int32(1), pods[0].Status.ContainerStatuses[0].State.Terminated.ExitCode)
	})

	t.Run("Job past its deadline fails, its running pod stopped", func(t *testing.T) {
		job := createJob(t, s.client, "backup-slow", "exec sleep 60", func(j *batchv1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
		})
		waitJob(t, s.client, job, batchv1.JobFailed, "DeadlineExceeded")
	})

	t.Run("deleted Jobs leave no pod and no process", func(t *testing.T) {
		jobs, err := s.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, j := range jobs.Items {
			require.NoError(t, s.client.BatchV1().Jobs(ns).Delete(ctx, j.Name, metav1.DeleteOptions{
				PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}))
		}
		require.NoError(t, s.client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := s.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(pods.Items) == 0, nil
		}), "pods still there")
		var pidFiles []string
		require.NoError(t, filepath.WalkDir(filepath.Join(dir, "pods"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".pid") {
				pidFiles = append(pidFiles, path)
			}
			return err
		}))
		require.Empty(t, pidFiles, "a container process still runs")
	})
}

// lockSandbox takes the e2e lock for the rest of the test, waiting for it a bounded time.
func lockSandbox(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(e2eLock, os.O_CREATE|os.O_RDWR, 0o666)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() }) // releases the lock
	giveUp := time.Now().Add(30 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-4*time.Minute).Before(giveUp) {
		giveUp = d.Add(-4 * time.Minute)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(giveUp) {
			t.Fatalf("locking %s (another e2e run holds it?): %v", e2eLock, err)
		}
		time.Sleep(time.Second)
	}
}

// scriptPod is a pod of shell containers sharing the emptyDir "work", their working folder.
func scriptPod(name string, policy corev1.RestartPolicy, initContainers []corev1.Container, containers ...corev1.Container) *corev1.Pod {
	pod := completionPod(policy, initContainers, containers...)
	pod.ObjectMeta = metav1.ObjectMeta{Name: name}
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](2)
	return pod
}

func createJob(t *testing.T, client kubernetes.Interface, name, script string, edit func(*batchv1.Job)) *batchv1.Job {
	t.Helper()
	pod := scriptPod(name, corev1.RestartPolicyNever, nil, shellContainer("backup", script))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template:     corev1.PodTemplateSpec{Spec: pod.Spec},
		},
	}
	if edit != nil {
		edit(job)
	}
	job, err := client.BatchV1().Jobs(metav1.NamespaceDefault).Create(context.Background(), job, metav1.CreateOptions{})
	require.NoError(t, err)
	return job
}

// waitJob waits for the Job's condition, with reason when not empty.
func waitJob(t *testing.T, client kubernetes.Interface, job *batchv1.Job, want batchv1.JobConditionType, reason string) {
	t.Helper()
	var last *batchv1.Job
	var found *batchv1.JobCondition
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = got
		for i, c := range got.Status.Conditions {
			if c.Type == want && c.Status == corev1.ConditionTrue {
				found = &got.Status.Conditions[i]
			}
		}
		return found != nil, nil
	})
	require.NoError(t, err, "Job %s never %s; last status %+v", job.Name, want, last)
	if reason != "" {
		require.Equal(t, reason, found.Reason, "reason of %s", want)
	}
}

func jobPods(t *testing.T, client kubernetes.Interface, job *batchv1.Job) []corev1.Pod {
	t.Helper()
	pods, err := client.CoreV1().Pods(job.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: batchv1.JobNameLabel + "=" + job.Name})
	require.NoError(t, err)
	return pods.Items
}

// waitPod polls the pod until done holds for it or timeout, and returns it.
func waitPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, timeout time.Duration, what string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = got
		return done(got), nil
	})
	if err != nil {
		status := "not found"
		if last != nil {
			status = fmt.Sprintf("%+v", last.Status)
		}
		t.Fatalf("pod %s never %s: %s", pod.Name, what, status)
	}
	return last
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	return condition(pod.Status, t)
}
