package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"redis-operator/test/e2e/framework"
)

// blockHostPort binds to node a pod that declares host port port (it only sleeps), so the
// scheduler puts no other pod needing that port there.
func blockHostPort(t *testing.T, ns, node string, port int32) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("block-%d", port), Labels: map[string]string{"test": "port-blocker"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "sleep", Image: "busybox", Command: []string{"sleep"}, Args: []string{"3600"},
				Ports: []corev1.ContainerPort{{ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
	_, err := f.Kube.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
}

// waitBlockersRunning waits until n port blockers of namespace ns run.
func waitBlockersRunning(t *testing.T, ns string, n int) {
	t.Helper()
	framework.WaitFor(t, 30*time.Second, "the port blockers to run", func() (bool, error) {
		pods, err := f.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "test=port-blocker"})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == n, fmt.Errorf("%d of %d running", running, n)
	})
}

// waitSchedulerSeesPort waits until the scheduler counts host port port on node taken: a probe
// pod asking for that port on that node alone, tolerating a cordon, is refused for want of free
// ports. The scheduler learns of pods by a watch of its own, so a blocker running on node says
// nothing yet of what the scheduler knows.
func waitSchedulerSeesPort(t *testing.T, ns, node string, port int32) {
	t.Helper()
	ctx := context.Background()
	pods := f.Kube.CoreV1().Pods(ns)
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", port), Labels: map[string]string{"test": "port-probe"}},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Tolerations: []corev1.Toleration{{
				Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
			}},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
				}}},
			}},
			Containers: []corev1.Container{{
				Name: "sleep", Image: "busybox", Command: []string{"sleep"}, Args: []string{"3600"},
				Ports: []corev1.ContainerPort{{ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
	_, err := pods.Create(ctx, probe, metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() {
		require.NoError(t, pods.Delete(ctx, probe.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	}()
	framework.WaitFor(t, 30*time.Second, fmt.Sprintf("the scheduler to count port %d on %s taken", port, node), func() (bool, error) {
		p, err := pods.Get(ctx, probe.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("the scheduler put probe %s on %s: it does not count port %d taken there", p.Name, p.Spec.NodeName, port)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "free ports") {
				return true, nil
			}
		}
		return false, fmt.Errorf("probe conditions %+v", p.Status.Conditions)
	})
}
