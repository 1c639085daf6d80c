package sandbox

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status is the pod status the processes show.
func (r *podRunner) status() corev1.PodStatus {
	addr := r.a.node.address
	status := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    addr,
		HostIPs:   []corev1.HostIP{{IP: addr}},
		PodIP:     r.podIP,
		PodIPs:    []corev1.PodIP{{IP: r.podIP}},
		StartTime: &r.started,
		QOSClass:  r.pod.Status.QOSClass,
	}
	allReady, anyRunning, allDone, anyFailed := true, false, true, false
	for _, c := range r.containers {
		cs := corev1.ContainerStatus{
			Name: c.spec.Name, Image: c.spec.Image, ImageID: "sandbox://" + c.spec.Image, RestartCount: c.restarts,
			LastTerminationState: corev1.ContainerState{Terminated: c.lastExit},
		}
		if c.image != nil {
			cs.ImageID = c.image.ID()
		}
		switch {
		case c.waiting != nil:
			cs.State.Waiting = c.waiting
		case c.notExecuted:
			// Shown running so the pod can be Ready on its real containers' probes; the agent's
			// NotExecuted event says nothing ran.
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: r.started}
			cs.Ready, cs.Started = true, ptrTo(true)
			cs.ContainerID = "sandbox://not-executed"
		case c.proc != nil:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
			cs.Ready, cs.Started = c.ready, ptrTo(true)
			cs.ContainerID = "sandbox://" + strconv.Itoa(c.proc.cmd.Process.Pid)
		case c.lastExit != nil && !r.shouldRestart(c.lastExit.ExitCode):
			cs.State.Terminated = c.lastExit
			cs.LastTerminationState = corev1.ContainerState{}
		default:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		}
		allReady = allReady && cs.Ready
		anyRunning = anyRunning || cs.State.Running != nil
		if cs.State.Terminated == nil {
			allDone = false
		} else if cs.State.Terminated.ExitCode != 0 {
			anyFailed = true
		}
		status.ContainerStatuses = append(status.ContainerStatuses, cs)
	}
	if allDone && len(r.containers) > 0 {
		status.Phase = corev1.PodSucceeded
		if anyFailed {
			status.Phase = corev1.PodFailed
		}
	} else if !anyRunning {
		status.Phase = corev1.PodPending
	}
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, LastTransitionTime: r.started}
		for _, old := range r.pod.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			} else if old.Type == t {
				c.LastTransitionTime = metav1.NewTime(time.Now())
			}
		}
		return c
	}
	status.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodInitialized, true),
		cond(corev1.ContainersReady, allReady),
		cond(corev1.PodReady, allReady),
	}
	return status
}

// exitState is how a container that exited shows in its status.
func exitState(p *process, started metav1.Time) *corev1.ContainerStateTerminated {
	code := int32(0)
	reason := "Completed"
	if p.cmd.ProcessState != nil {
		code = int32(p.cmd.ProcessState.ExitCode())
		if code != 0 {
			reason = "Error"
		}
	}
	return &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: started, FinishedAt: metav1.NewTime(time.Now())}
}

func ptrTo[T any](v T) *T { return &v }
