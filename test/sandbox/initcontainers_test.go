package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
)

// shellContainer runs script with sh in the pod's "work" emptyDir, its working folder.
func shellContainer(name, script string) corev1.Container {
	return corev1.Container{
		Name: name, Image: "busybox", Command: []string{"sh", "-c", script},
		VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}},
	}
}

// completionPod is a pod with an emptyDir "work" and the given restart policy and containers.
func completionPod(policy corev1.RestartPolicy, initContainers []corev1.Container, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job-x", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: policy, InitContainers: initContainers, Containers: containers,
			Volumes: []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// written is the pod's status on the fake API server.
func written(t *testing.T, client *fake.Clientset, pod *corev1.Pod) corev1.PodStatus {
	t.Helper()
	got, err := client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	return got.Status
}

// stepUntil steps r as its run loop does, until done holds for the status written or timeout.
func stepUntil(t *testing.T, r *podRunner, client *fake.Clientset, timeout time.Duration, what string, done func(corev1.PodStatus) bool) corev1.PodStatus {
	t.Helper()
	var status corev1.PodStatus
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if !r.finished {
			r.step(ctx)
		}
		status = written(t, client, r.pod)
		return done(status), nil
	})
	require.NoError(t, err, "waiting for %s; status %+v", what, status)
	return status
}

func condition(status corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

// Init containers run one after the other, each to completion, before the container starts, and
// share the pod's volumes with it; while they run the pod is Pending and not Initialized.
func TestInitContainersRunInOrderBeforeTheContainers(t *testing.T) {
	pod := completionPod(corev1.RestartPolicyNever,
		[]corev1.Container{
			shellContainer("first", "echo one > first"),
			shellContainer("second", "test -f first && test ! -f main && cat first > second && echo two >> second"),
		},
		corev1.Container{Name: "main", Image: "busybox", Command: []string{"cat"}, Args: []string{"/work/first", "/work/second"},
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}})
	r, client := testRunner(t, pod)
	ctx := context.Background()
	require.NoError(t, r.prepare(ctx))
	defer r.stopAll(time.Second)

	r.step(ctx)
	status := written(t, client, pod)
	require.Equal(t, corev1.PodPending, status.Phase)
	require.Len(t, status.InitContainerStatuses, 2)
	require.NotNil(t, status.InitContainerStatuses[0].State.Running, "the first init container runs")
	require.Equal(t, "PodInitializing", status.InitContainerStatuses[1].State.Waiting.Reason)
	require.Equal(t, "PodInitializing", status.ContainerStatuses[0].State.Waiting.Reason)
	initialized := condition(status, corev1.PodInitialized)
	require.Equal(t, corev1.ConditionFalse, initialized.Status)
	require.Equal(t, "ContainersNotInitialized", initialized.Reason)
	require.Equal(t, "containers with incomplete status: [first second]", initialized.Message)

	status = stepUntil(t, r, client, 10*time.Second, "the pod to succeed", func(s corev1.PodStatus) bool { return isTerminal(s.Phase) })
	require.Equal(t, corev1.PodSucceeded, status.Phase, "%+v", status)
	for _, cs := range append(status.InitContainerStatuses, status.ContainerStatuses...) {
		require.NotNil(t, cs.State.Terminated, cs.Name)
		require.Equal(t, int32(0), cs.State.Terminated.ExitCode, cs.Name)
		require.Equal(t, "Completed", cs.State.Terminated.Reason, cs.Name)
		require.Zero(t, cs.RestartCount, cs.Name)
	}
	require.True(t, status.InitContainerStatuses[1].Ready, "a completed init container is ready")
	require.Equal(t, corev1.ConditionTrue, condition(status, corev1.PodInitialized).Status)
	for _, ct := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		require.Equal(t, corev1.ConditionFalse, condition(status, ct).Status, ct)
		require.Equal(t, "PodCompleted", condition(status, ct).Reason, ct)
	}
	logged, err := os.ReadFile(filepath.Join(r.dir, "main.log"))
	require.NoError(t, err)
	require.Equal(t, "one\none\ntwo\n", string(logged), "the container reads what both init containers wrote")
	require.True(t, r.finished)
}

// With restartPolicy Never a failed init container fails the pod; the container never starts.
func TestFailedInitContainerFailsANeverPod(t *testing.T) {
	pod := completionPod(corev1.RestartPolicyNever,
		[]corev1.Container{shellContainer("restore", "exit 3"), shellContainer("after", "touch after")},
		shellContainer("main", "touch main"))
	r, client := testRunner(t, pod)
	ctx := context.Background()
	require.NoError(t, r.prepare(ctx))
	defer r.stopAll(time.Second)

	status := stepUntil(t, r, client, 10*time.Second, "the pod to fail", func(s corev1.PodStatus) bool { return isTerminal(s.Phase) })
	require.Equal(t, corev1.PodFailed, status.Phase)
	failed := status.InitContainerStatuses[0]
	require.NotNil(t, failed.State.Terminated)
	require.Equal(t, int32(3), failed.State.Terminated.ExitCode)
	require.Equal(t, "Error", failed.State.Terminated.Reason)
	require.False(t, failed.Ready)
	require.Equal(t, "PodInitializing", status.InitContainerStatuses[1].State.Waiting.Reason)
	require.Equal(t, "PodInitializing", status.ContainerStatuses[0].State.Waiting.Reason)
	require.Equal(t, corev1.ConditionFalse, condition(status, corev1.PodInitialized).Status)
	require.Equal(t, "PodFailed", condition(status, corev1.PodReady).Reason)
	for _, name := range []string{"after", "main"} {
		_, err := os.Stat(filepath.Join(r.volumes["work"], name))
		require.True(t, os.IsNotExist(err), "%s never ran", name)
	}
}

// Otherwise a failed init container is started again after a back-off, the container waiting.
func TestFailedInitContainerIsRetried(t *testing.T) {
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyAlways} {
		t.Run(string(policy), func(t *testing.T) {
			pod := completionPod(policy,
				[]corev1.Container{shellContainer("flaky", "if test -f tried; then exit 0; fi; touch tried; exit 1")},
				shellContainer("main", "touch main; exec sleep 60"))
			r, client := testRunner(t, pod)
			ctx := context.Background()
			require.NoError(t, r.prepare(ctx))
			defer r.stopAll(time.Second)

			status := stepUntil(t, r, client, 10*time.Second, "the first failure", func(s corev1.PodStatus) bool {
				return len(s.InitContainerStatuses) == 1 && s.InitContainerStatuses[0].RestartCount == 1
			})
			flaky := status.InitContainerStatuses[0]
			require.Equal(t, "CrashLoopBackOff", flaky.State.Waiting.Reason)
			require.Equal(t, int32(1), flaky.LastTerminationState.Terminated.ExitCode)
			require.Equal(t, corev1.PodPending, status.Phase)
			require.Equal(t, "PodInitializing", status.ContainerStatuses[0].State.Waiting.Reason)
			failedAt := flaky.LastTerminationState.Terminated.FinishedAt.Time
			require.WithinDuration(t, failedAt.Add(restartDelay(1)), r.initContainers[0].nextStart, 50*time.Millisecond, "backing off")

			status = stepUntil(t, r, client, 10*time.Second, "the container to run", func(s corev1.PodStatus) bool { return s.Phase == corev1.PodRunning })
			flaky = status.InitContainerStatuses[0]
			require.Equal(t, "Completed", flaky.State.Terminated.Reason)
			require.Equal(t, int32(1), flaky.RestartCount)
			require.Equal(t, int32(1), flaky.LastTerminationState.Terminated.ExitCode, "the failure stays the last state")
			require.Equal(t, corev1.ConditionTrue, condition(status, corev1.PodInitialized).Status)
			require.NotNil(t, status.ContainerStatuses[0].State.Running)
		})
	}
}
