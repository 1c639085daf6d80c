package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// A pod restarted Never or OnFailure ends Succeeded or Failed once its containers exited for
// good, not ready, with their exit codes; OnFailure restarts only a failed container.
func TestRunToCompletionPods(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		script   string
		phase    corev1.PodPhase
		exit     int32
		reason   string
		restarts int32
	}{
		{"never succeeds", corev1.RestartPolicyNever, "exit 0", corev1.PodSucceeded, 0, "Completed", 0},
		{"never fails", corev1.RestartPolicyNever, "exit 1", corev1.PodFailed, 1, "Error", 0},
		{"on failure retries", corev1.RestartPolicyOnFailure, "if test -f tried; then exit 0; fi; touch tried; exit 4", corev1.PodSucceeded, 0, "Completed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := completionPod(tc.policy, nil, shellContainer("backup", tc.script))
			r, client := testRunner(t, pod)
			ctx := context.Background()
			require.NoError(t, r.prepare(ctx))
			defer r.stopAll(time.Second)

			status := stepUntil(t, r, client, 10*time.Second, "a terminal phase", func(s corev1.PodStatus) bool { return isTerminal(s.Phase) })
			require.Equal(t, tc.phase, status.Phase)
			cs := status.ContainerStatuses[0]
			require.NotNil(t, cs.State.Terminated)
			require.Equal(t, tc.exit, cs.State.Terminated.ExitCode)
			require.Equal(t, tc.reason, cs.State.Terminated.Reason)
			require.Equal(t, tc.restarts, cs.RestartCount)
			require.NotEmpty(t, cs.ContainerID)
			if tc.restarts > 0 {
				require.Equal(t, int32(4), cs.LastTerminationState.Terminated.ExitCode)
			}
			require.False(t, cs.Ready)
			require.Equal(t, corev1.ConditionFalse, condition(status, corev1.PodReady).Status)
			require.Equal(t, corev1.ConditionTrue, condition(status, corev1.PodInitialized).Status)

			// Finished: further steps neither restart nor rewrite anything.
			require.True(t, r.finished)
			require.Nil(t, r.containers[0].proc)
		})
	}
}

// A run-to-completion pod deleted while it runs is stopped, written Failed with its container's
// exit (128+SIGTERM), then removed; nothing of it keeps running.
func TestDeletedRunningJobPodEndsFailed(t *testing.T) {
	pod := completionPod(corev1.RestartPolicyNever, nil, shellContainer("backup", "exec sleep 60"))
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	r, client := testRunner(t, pod)
	var deleted atomic.Bool
	// The pod stays so its last status can be read, as a finalizer would keep it.
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
		deleted.Store(true)
		return true, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	latest := make(chan *corev1.Pod, 1)
	stopped := make(chan struct{})
	go func() { defer close(stopped); r.run(ctx, latest) }()

	var running *corev1.Pod
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.CoreV1().Pods("ns").Get(ctx, pod.Name, metav1.GetOptions{})
		running = got
		return err == nil && got.Status.Phase == corev1.PodRunning, nil
	}))
	pid := running.Status.ContainerStatuses[0].ContainerID
	terminating := running.DeepCopy()
	terminating.DeletionTimestamp = ptr.To(metav1.Now())
	terminating.DeletionGracePeriodSeconds = ptr.To[int64](1)
	latest <- terminating
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("the runner did not stop the deleted pod")
	}
	require.True(t, deleted.Load(), "the agent removed the pod")
	status := written(t, client, pod)
	require.Equal(t, corev1.PodFailed, status.Phase)
	cs := status.ContainerStatuses[0]
	require.NotNil(t, cs.State.Terminated, "%+v", cs.State)
	require.Equal(t, int32(128+syscall.SIGTERM), cs.State.Terminated.ExitCode)
	require.Equal(t, pid, cs.ContainerID)
	require.Equal(t, "PodFailed", condition(status, corev1.PodReady).Reason)
	require.Equal(t, syscall.ESRCH, syscall.Kill(containerPid(t, pid), 0), "the container's process is gone")
}

// containerPid is the process of a sandbox container ID.
func containerPid(t *testing.T, id string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(id, "sandbox://"))
	require.NoError(t, err, id)
	return pid
}

// The agent keeps a finished pod's runner, idle, until the pod is deleted: a Job's finalizer
// removed, or an older copy of the pod seen again, starts nothing; its address is freed at once.
func TestAgentLeavesFinishedPodsAlone(t *testing.T) {
	pod := completionPod(corev1.RestartPolicyNever, nil, shellContainer("backup", "echo run >> runs"))
	pod.Spec.NodeName = "node-1"
	pod.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
	client := fake.NewClientset(pod)
	a := newAgent(client, nodeInfo{name: "node-1", address: "127.0.0.1", podPrefix: "127.0.11"}, t.TempDir(), newImageStore(""))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); a.run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(15 * time.Second):
			t.Error("the agent did not stop")
		}
	}()

	var done *corev1.Pod
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.CoreV1().Pods("ns").Get(ctx, pod.Name, metav1.GetOptions{})
		done = got
		return err == nil && got.Status.Phase == corev1.PodSucceeded, nil
	}))
	require.NotEmpty(t, done.Status.PodIP)
	a.mu.Lock()
	require.Empty(t, a.ips.used, "the finished pod's address is free")
	require.Contains(t, a.pods, pod.UID, "its runner stays until the pod is deleted")
	a.mu.Unlock()

	done.Finalizers = nil
	_, err := client.CoreV1().Pods("ns").Update(ctx, done, metav1.UpdateOptions{})
	require.NoError(t, err)
	a.observe(ctx, pod) // the pod as first seen, Pending
	time.Sleep(5 * tick)
	runs, err := os.ReadFile(filepath.Join(a.podDir(pod), "volumes", "work", "runs"))
	require.NoError(t, err)
	require.Equal(t, "run\n", string(runs), "the container ran once")
	require.Equal(t, corev1.PodSucceeded, written(t, client, pod).Phase)

	require.NoError(t, client.CoreV1().Pods("ns").Delete(ctx, pod.Name, metav1.DeleteOptions{}))
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.pods) == 0, nil
	}), "the runner of the deleted pod did not stop")
}
