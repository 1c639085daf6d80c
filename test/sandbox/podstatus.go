package sandbox

import (
	"fmt"
	"strconv"
	"syscall"
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
	var incomplete []string
	for _, c := range r.initContainers {
		if !c.completed() {
			incomplete = append(incomplete, c.spec.Name)
		}
		status.InitContainerStatuses = append(status.InitContainerStatuses, r.initContainerStatus(c))
	}
	allReady, anyRunning, allDone, anyFailed := true, false, true, false
	for _, c := range r.containers {
		cs := baseStatus(c)
		switch {
		case c.waiting != nil:
			cs.State.Waiting = c.waiting
		case c.notExecuted:
			// Shown running so the pod can be Ready on its real containers' probes; the agent's
			// NotExecuted event says nothing ran.
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: r.started}
			cs.Ready, cs.Started = true, ptrTo(true)
			cs.ContainerID = notExecutedID
		case c.proc != nil:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
			cs.Ready, cs.Started = c.ready, ptrTo(true)
			cs.ContainerID = processID(c.proc)
		case c.lastExit != nil && !r.shouldRestart(c.lastExit.ExitCode):
			cs.State.Terminated = c.lastExit
			cs.LastTerminationState = corev1.ContainerState{Terminated: c.previousExit}
			cs.Started = ptrTo(false)
			cs.ContainerID = c.lastExit.ContainerID
		case c.lastExit == nil && len(r.initContainers) > 0:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
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
	switch {
	case r.initFailed():
		status.Phase = corev1.PodFailed
	case len(incomplete) > 0:
		status.Phase = corev1.PodPending
	case allDone && len(r.containers) > 0:
		status.Phase = corev1.PodSucceeded
		if anyFailed {
			status.Phase = corev1.PodFailed
		}
	case !anyRunning:
		status.Phase = corev1.PodPending
	}
	if r.deleting && !isTerminal(status.Phase) {
		// A deleted pod ends Failed whatever its containers did, as with a kubelet.
		status.Phase = corev1.PodFailed
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: message, LastTransitionTime: r.started}
		for _, old := range r.pod.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			} else if old.Type == t {
				c.LastTransitionTime = metav1.NewTime(time.Now())
			}
		}
		return c
	}
	// The kubelet's reasons: the Job controller and kubectl show them.
	initReason, initMessage, readyReason := "", "", ""
	if len(incomplete) > 0 {
		initReason, initMessage = "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: %s", incomplete)
	}
	switch status.Phase {
	case corev1.PodSucceeded:
		readyReason = "PodCompleted"
		if initReason == "" {
			initReason = readyReason
		}
	case corev1.PodFailed:
		readyReason = "PodFailed"
	}
	allReady = allReady && !isTerminal(status.Phase)
	status.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true, "", ""),
		cond(corev1.PodInitialized, len(incomplete) == 0, initReason, initMessage),
		cond(corev1.ContainersReady, allReady, readyReason, ""),
		cond(corev1.PodReady, allReady, readyReason, ""),
	}
	return status
}

// baseStatus is a container's status without its state.
func baseStatus(c *containerRun) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "sandbox://" + c.spec.Image, RestartCount: c.restarts,
		LastTerminationState: corev1.ContainerState{Terminated: c.lastExit},
	}
	if c.image != nil {
		cs.ImageID = c.image.ID()
	}
	return cs
}

// notExecutedID is the container ID of a container whose command the host lacks.
const notExecutedID = "sandbox://not-executed"

// processID is the container ID of a container's process.
func processID(p *process) string { return "sandbox://" + strconv.Itoa(p.cmd.Process.Pid) }

func isTerminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

// exitState is how a container that exited shows in its status. A process killed by a signal
// exits 128+signal, as a container runtime reports it (137 for SIGKILL).
func exitState(p *process, started metav1.Time) *corev1.ContainerStateTerminated {
	code := int32(0)
	reason := "Completed"
	if ps := p.cmd.ProcessState; ps != nil {
		code = int32(ps.ExitCode())
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		}
		if code != 0 {
			reason = "Error"
		}
	}
	return &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: started,
		FinishedAt: metav1.NewTime(time.Now()), ContainerID: processID(p)}
}

func ptrTo[T any](v T) *T { return &v }
