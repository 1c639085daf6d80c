package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"redis-operator/test/e2e/framework"
)

func TestPersistenceTurnedOnThenGrown(t *testing.T) {
	rc := f.ReadyCluster(t, "kept")
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	ctx := context.Background()

	// Persistence on: every pod is rolled onto a claim of its own.
	patchCluster(t, ns, "kept", `{"spec":{"persistence":{"enabled":true,"size":"1Gi"}}}`)
	var claimed map[string]string
	framework.WaitFor(t, 5*time.Minute, "every pod to run on its claim", func() (bool, error) {
		cur := f.Cluster(t, ns, "kept")
		pods, err := f.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=kept"})
		if err != nil || cur.Status.UpdatedNodes != int32(cur.Spec.NodeCount()) || len(pods.Items) != cur.Spec.NodeCount() {
			return false, err
		}
		claimed = map[string]string{}
		for _, p := range pods.Items {
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					claimed[p.Name] = v.PersistentVolumeClaim.ClaimName
				}
			}
		}
		return len(claimed) == cur.Spec.NodeCount(), nil
	})
	rc = f.WaitReady(t, ns, "kept", 2*time.Minute)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	before := podUIDs(t, ns, "kept")

	// A larger size grows the claims in place: no pod is replaced.
	patchCluster(t, ns, "kept", `{"spec":{"persistence":{"enabled":true,"size":"2Gi"}}}`)
	want := resource.MustParse("2Gi")
	framework.WaitFor(t, 2*time.Minute, "every claim to grow", func() (bool, error) {
		for _, name := range claimed {
			claim, err := f.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if got := claim.Status.Capacity[corev1.ResourceStorage]; got.Cmp(want) != 0 {
				return false, nil
			}
		}
		return true, nil
	})
	rc = f.WaitReady(t, ns, "kept", time.Minute)
	require.Equal(t, before, podUIDs(t, ns, "kept"), "claims grow without a new pod")
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
}
