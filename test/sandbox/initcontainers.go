package sandbox

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stepInit runs the pod's init containers as a kubelet does: one at a time, in order, each to a
// zero exit, before any container starts. A failed one is started again after a back-off unless
// the pod's restart policy is Never, which fails the pod. It reports whether all have completed.
func (r *podRunner) stepInit(ctx context.Context, now time.Time) bool {
	for _, c := range r.initContainers {
		if c.completed() {
			continue
		}
		if c.proc != nil {
			if !c.reap() {
				return false
			}
			if c.lastExit.ExitCode == 0 {
				continue
			}
			if r.shouldRestart(c.lastExit.ExitCode) {
				c.restarts++
				c.nextStart = now.Add(restartDelay(c.restarts))
			}
			return false
		}
		if c.lastExit != nil && !r.shouldRestart(c.lastExit.ExitCode) {
			return false
		}
		if now.Before(c.nextStart) {
			return false
		}
		r.start(ctx, c)
		if !c.notExecuted {
			return false
		}
		// Reported done, as a regular container that was not executed is reported running, so
		// the pod goes on; the NotExecuted event says nothing ran.
		at := metav1.NewTime(now)
		c.lastExit = &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: at, FinishedAt: at, ContainerID: notExecutedID}
	}
	return true
}

// initFailed reports whether an init container failed and will not run again: the pod failed.
func (r *podRunner) initFailed() bool {
	for _, c := range r.initContainers {
		if c.proc == nil && c.lastExit != nil && c.lastExit.ExitCode != 0 && !r.shouldRestart(c.lastExit.ExitCode) {
			return true
		}
	}
	return false
}

// completed reports whether an init container has exited 0.
func (c *containerRun) completed() bool {
	return c.proc == nil && c.lastExit != nil && c.lastExit.ExitCode == 0
}

// reap records the exit of a container whose process has ended and reports whether it had.
func (c *containerRun) reap() bool {
	if c.proc == nil || !c.proc.exited() {
		return false
	}
	c.previousExit, c.lastExit = c.lastExit, exitState(c.proc, c.startedAt)
	c.proc, c.ready, c.successes, c.failures, c.liveFailures, c.killing = nil, false, 0, 0, 0, false
	return true
}

// restartDelay is the back-off before the given restart of a container: the kubelet's doubling,
// from a shorter start and to a lower cap so tests need not wait minutes.
func restartDelay(restarts int32) time.Duration {
	return min(time.Duration(1<<min(restarts, 6))*100*time.Millisecond, maxRestartDelay)
}

// initContainerStatus is how an init container shows in the pod's status.
func (r *podRunner) initContainerStatus(c *containerRun) corev1.ContainerStatus {
	cs := baseStatus(c)
	switch {
	case c.waiting != nil:
		cs.State.Waiting = c.waiting
	case c.proc != nil:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
		cs.Started = ptrTo(true)
		cs.ContainerID = processID(c.proc)
	case c.lastExit != nil && (c.lastExit.ExitCode == 0 || !r.shouldRestart(c.lastExit.ExitCode)):
		cs.State.Terminated = c.lastExit
		cs.LastTerminationState = corev1.ContainerState{Terminated: c.previousExit}
		cs.Ready, cs.Started = c.lastExit.ExitCode == 0, ptrTo(false)
		cs.ContainerID = c.lastExit.ContainerID
	case c.lastExit != nil:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off restarting failed container " + c.spec.Name}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
	}
	return cs
}

// allContainers are the pod's init containers, then its containers.
func (r *podRunner) allContainers() []*containerRun {
	return append(append([]*containerRun{}, r.initContainers...), r.containers...)
}
