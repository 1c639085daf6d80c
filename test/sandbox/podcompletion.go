package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// A pod whose restart policy is Never or OnFailure runs to completion: once its containers have
// exited for good its phase is Succeeded or Failed, and the agent keeps its runner, idle, until
// the pod is deleted. Keeping it, rather than forgetting the pod, keeps an older copy of the pod
// still in the informer's queue from starting it again.

// finish lets go of what a pod that reached a terminal phase held: its address (a kubelet tears
// its sandbox down; finished Job pods may stay for long) and its image containers' root file
// systems. Its folder, with the logs, stays until the pod goes.
func (r *podRunner) finish() {
	r.finished = true
	r.a.mu.Lock()
	r.a.ips.release(r.pod.UID)
	r.a.mu.Unlock()
	if err := os.RemoveAll(filepath.Join(r.dir, "containers")); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: removing the containers of pod %s/%s: %v\n", r.pod.Namespace, r.pod.Name, err)
	}
}

// reportTermination writes the terminal status of a run-to-completion pod deleted before it
// finished, once its containers are stopped, as a kubelet does before it removes the pod: a Job
// that replaces only failed pods (podReplacementPolicy Failed) waits for that phase. Pods
// restarted Always are removed without it, as the sandbox always did.
func (r *podRunner) reportTermination(ctx context.Context) {
	policy := r.pod.Spec.RestartPolicy
	if r.finished || (policy != corev1.RestartPolicyNever && policy != corev1.RestartPolicyOnFailure) {
		return
	}
	r.deleting = true
	for _, c := range r.allContainers() {
		c.reap()
	}
	status := r.status()
	if pod, err := r.a.updateStatus(ctx, r.pod, status); err == nil {
		r.pod, r.written = pod, &status
	} else if !apierrors.IsNotFound(err) {
		fmt.Fprintf(os.Stderr, "sandbox: final status of pod %s/%s: %v\n", r.pod.Namespace, r.pod.Name, err)
	}
}
