package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"redis-operator/test/e2e/framework"
)

var f *framework.Framework

func TestMain(m *testing.M) { framework.Main(m, &f) }

func hostNetworkPod(name, namespace string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"test": name}},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			Containers:                    containers,
			TerminationGracePeriodSeconds: ptr.To[int64](2),
		},
	}
}

// redisContainer runs redis-server on port; it is ready once the port accepts connections.
func redisContainer(port string) corev1.Container {
	return corev1.Container{
		Name: "redis", Image: "redis", Command: []string{"redis-server"}, Args: []string{"--port", port, "--save", ""},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			TCPSocket: &corev1.TCPSocketAction{Port: intstr.Parse(port)},
		}},
	}
}

func waitRunning(t *testing.T, namespace, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	framework.WaitFor(t, 60*time.Second, "pod "+name+" running and ready", func() (bool, error) {
		var err error
		pod, err = f.Kube.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return pod.Status.Phase == corev1.PodRunning, nil
			}
		}
		return false, nil
	})
	return pod
}

func TestNodesAreReady(t *testing.T) {
	nodes, err := f.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 3)
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		require.True(t, ready, n.Name)
	}
}

func TestRedisPodRunsAsARealProcess(t *testing.T) {
	ns := f.Namespace(t, "redis-pod")
	ctx := context.Background()
	_, err := f.Kube.CoreV1().Pods(ns).Create(ctx, hostNetworkPod("redis", ns, redisContainer("17379")), metav1.CreateOptions{})
	require.NoError(t, err)
	pod := waitRunning(t, ns, "redis")
	addr := net.JoinHostPort(pod.Status.HostIP, "17379")
	require.Equal(t, "+PONG", ping(t, addr))

	require.NoError(t, f.Kube.CoreV1().Pods(ns).Delete(ctx, "redis", metav1.DeleteOptions{}))
	framework.WaitFor(t, 10*time.Second, "the redis process to stop", func() (bool, error) {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err != nil, nil
	})
	framework.WaitFor(t, 10*time.Second, "the pod to be gone", func() (bool, error) {
		_, err := f.Kube.CoreV1().Pods(ns).Get(ctx, "redis", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// ping sends PING on a raw connection and returns the first reply line.
func ping(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Second)))
	_, err = conn.Write([]byte("PING\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	return string(buf[:n-2])
}

func TestGarbageCollectionFollowsOwnerReferences(t *testing.T) {
	ns := f.Namespace(t, "gc")
	ctx := context.Background()
	owner, err := f.Kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	child := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "child",
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true),
		}},
	}}
	_, err = f.Kube.CoreV1().ConfigMaps(ns).Create(ctx, child, metav1.CreateOptions{})
	require.NoError(t, err)

	require.NoError(t, f.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, "owner", metav1.DeleteOptions{}))
	framework.WaitFor(t, 60*time.Second, "the garbage collector to delete the child", func() (bool, error) {
		_, err := f.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "child", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func TestSchedulerSpreadsHostPortsAcrossNodes(t *testing.T) {
	ns := f.Namespace(t, "sched")
	ctx := context.Background()
	names := []string{"a", "b", "c", "d"}
	for _, name := range names {
		pod := hostNetworkPod(name, ns, redisContainer("17400"))
		pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 17400, HostPort: 17400}}
		_, err := f.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	nodes := map[string]bool{}
	for _, name := range names[:3] {
		framework.WaitFor(t, 30*time.Second, "pod "+name+" scheduled", func() (bool, error) {
			pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			scheduled := 0
			for _, p := range pods.Items {
				if p.Spec.NodeName != "" {
					scheduled++
				}
			}
			return scheduled >= 3, nil
		})
	}
	pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var pending *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" {
			pending = p
			continue
		}
		require.False(t, nodes[p.Spec.NodeName], "two pods with host port 17400 on %s", p.Spec.NodeName)
		nodes[p.Spec.NodeName] = true
	}
	require.Len(t, nodes, 3)
	require.NotNil(t, pending, "the fourth pod has no node left")
	framework.WaitFor(t, 30*time.Second, "the fourth pod to be reported unschedulable", func() (bool, error) {
		p, err := f.Kube.CoreV1().Pods(ns).Get(ctx, pending.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestClaimIsBoundAndOutlivesItsPod(t *testing.T) {
	ns := f.Namespace(t, "pvc")
	ctx := context.Background()
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	_, err := f.Kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{})
	require.NoError(t, err)
	container := redisContainer("17450")
	container.Args = []string{"--port", "17450", "--dir", "/data", "--appendonly", "yes"}
	container.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	pod := hostNetworkPod("writer", ns, container)
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
	}}}
	_, err = f.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunning(t, ns, "writer")

	bound, err := f.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.ClaimBound, bound.Status.Phase)
	pv, err := f.Kube.CoreV1().PersistentVolumes().Get(ctx, bound.Spec.VolumeName, metav1.GetOptions{})
	require.NoError(t, err)
	folder := pv.Spec.HostPath.Path
	framework.WaitFor(t, 10*time.Second, "redis to write its append-only file into the volume", func() (bool, error) {
		entries, err := os.ReadDir(folder)
		return len(entries) > 0, err
	})

	require.NoError(t, f.Kube.CoreV1().Pods(ns).Delete(ctx, "writer", metav1.DeleteOptions{}))
	framework.WaitFor(t, 20*time.Second, "the pod to be gone", func() (bool, error) {
		_, err := f.Kube.CoreV1().Pods(ns).Get(ctx, "writer", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	entries, err := os.ReadDir(folder)
	require.NoError(t, err)
	require.NotEmpty(t, entries, "the volume's data outlives the pod")
	require.True(t, filepath.IsAbs(folder))
}

func TestMissingCommandIsReportedNotExecuted(t *testing.T) {
	ns := f.Namespace(t, "notexec")
	ctx := context.Background()
	missing := corev1.Container{Name: "missing", Image: "example/missing", Command: []string{"/no-such-program"}}
	_, err := f.Kube.CoreV1().Pods(ns).Create(ctx, hostNetworkPod("sidecar", ns, redisContainer("17460"), missing), metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunning(t, ns, "sidecar")
	framework.WaitFor(t, 10*time.Second, "a NotExecuted event naming the missing program", func() (bool, error) {
		events, err := f.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == "NotExecuted" && e.InvolvedObject.Name == "sidecar" && e.Type == corev1.EventTypeWarning &&
				strings.Contains(e.Message, "/no-such-program") {
				return true, nil
			}
		}
		return false, nil
	})
}
