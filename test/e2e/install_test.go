package e2e

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"redis-operator/pkg/httpapi"
	"redis-operator/test/e2e/framework"
)

// imageArchive is the operator's image as `make image` writes it; the sandbox runs the chart's
// image, redis-operator:<appVersion>, from it.
const imageArchive = "bin/redis-operator.oci.tar"

// Leader election of the chart's pods, at the operator's default flags. A deleted leader
// releases the Lease once its work has stopped, or is killed at the end of its grace period (the
// sandbox gives at most 5 s) and its Lease expires; a follower takes it at its next try.
const (
	leaseDuration = 15 * time.Second
	leaseRetry    = 2 * time.Second
	handOverBound = 5*time.Second + leaseDuration + leaseRetry + 3*time.Second
)

// TestHelmInstallRunsTheOperatorImageInCluster installs the chart with its default values as a
// user would, with the sandbox running the chart's two pods from the image archive: both become
// Ready by their probes, one leads, the seed cluster becomes Ready, discovery answers at the
// leader pod's address and the webhook scales with the chart's token. Deleting the leader in the
// middle of that scale-out hands over within the lease bound and the scale-out finishes without
// losing a key; an upgrade with a changed value rolls the pods; uninstall leaves only the CRD.
func TestHelmInstallRunsTheOperatorImageInCluster(t *testing.T) {
	ctx := context.Background()
	image := readImageArchive(t, filepath.Join(f.Root, imageArchive))
	t.Logf("image archive %s: %s, index %s", imageArchive, image.name, image.digest)

	uninstall(t, true)
	f.DeleteNamespace(t, chartNamespace)
	t.Cleanup(func() {
		if t.Failed() {
			logInstall(t)
		}
		uninstall(t, true)
		f.DeleteNamespace(t, chartNamespace)
	})
	earlier := map[string]bool{}
	for _, path := range operatorLogs(t) {
		earlier[path] = true
	}

	start := time.Now()
	out, err := f.Helm(t, "install", chartRelease, "charts/redis-operator", "--namespace", chartNamespace,
		"--create-namespace", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	pods := waitOperatorPods(t, 2, nil)
	t.Logf("helm install to 2 Ready operator pods: %s", time.Since(start).Round(100*time.Millisecond))
	for _, p := range pods {
		c := p.Status.ContainerStatuses[0]
		require.Equal(t, "oci-archive:"+filepath.Join(f.Root, imageArchive)+"@"+image.digest, c.ImageID,
			"pod %s runs the archive's image", p.Name)
		require.Equal(t, "redis-operator:"+chartAppVersion(t), c.Image, "the chart's default image")
	}
	require.NotEqual(t, pods[0].Status.PodIP, pods[1].Status.PodIP, "each pod has its own address")
	leader := leaderPod(t, pods)
	t.Logf("pods %s (%s) and %s (%s); %s leads", pods[0].Name, pods[0].Status.PodIP, pods[1].Name, pods[1].Status.PodIP, leader.Name)
	for _, p := range pods {
		if p.Name != leader.Name {
			require.NotContains(t, string(podLog(t, p)), "became leader", "only %s leads", leader.Name)
		}
	}

	// The seed manifest, applied as a user would, becomes Ready under the in-cluster operator.
	f.ApplySeed(t)
	rc := f.WaitReady(t, framework.SeedNamespace, framework.SeedCluster, 3*time.Minute)
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	op := &framework.Operator{HTTPAddr: net.JoinHostPort(leader.Status.PodIP, "9090")}
	checkDiscovery(t, op, rc, "clusterName="+framework.SeedCluster)
	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "install", 20000)

	// The webhook, called at the leader pod's address with the chart's token, scales out.
	token := webhookToken(t, chartDeployment(t))
	alert := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing",`+
		`"labels":{"alertname":"HighMemoryUsage","redis_cluster":%q,"namespace":%q},`+
		`"annotations":{"scale_count":"1"},"startsAt":%q}]}`,
		framework.SeedCluster, framework.SeedNamespace, time.Now().UTC().Format(time.RFC3339))
	code, _, _ := apiCall(t, op, http.MethodPost, "/webhooks/alertmanager", alert, bearer("wrong-token"))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, raw := apiCall(t, op, http.MethodPost, "/webhooks/alertmanager", alert, bearer(token))
	require.Equal(t, http.StatusOK, code, "%s", raw)
	var resp httpapi.WebhookResponse
	require.NoError(t, json.Unmarshal(raw, &resp), "%s", raw)
	require.Len(t, resp.Alerts, 1, "%s", raw)
	require.Equal(t, httpapi.OutcomeScaled, resp.Alerts[0].Outcome, "%s", raw)
	require.EqualValues(t, 4, resp.Alerts[0].To, "%s", raw)

	// Once slots move to the new master, the leader pod is deleted.
	framework.WaitFor(t, 2*time.Minute, "slots to be migrating to the new master", func() (bool, error) {
		rc = f.Cluster(t, framework.SeedNamespace, framework.SeedCluster)
		return rc.Status.Migration != nil, nil
	})
	deleted := time.Now()
	require.NoError(t, f.Kube.CoreV1().Pods(chartNamespace).Delete(ctx, leader.Name, metav1.DeleteOptions{}))
	newLeader := waitNewLeader(t, leader.Name, handOverBound)
	handOver := time.Since(deleted)
	t.Logf("leader %s deleted during the migration; %s led %s later (bound %s: grace, lease, retry, 3 s to spare)",
		leader.Name, newLeader.Name, handOver.Round(100*time.Millisecond), handOverBound)
	require.LessOrEqual(t, handOver, handOverBound)

	rc = f.WaitReady(t, framework.SeedNamespace, framework.SeedCluster, 3*time.Minute)
	require.EqualValues(t, 4, rc.Spec.Masters)
	require.EqualValues(t, 4, rc.Status.ReadyMasters)
	require.Nil(t, rc.Status.Migration, "the migration finished")
	t.Logf("scale-out to 4 masters finished %s after the leader's deletion", time.Since(deleted).Round(100*time.Millisecond))
	if m := rc.Status.LastMigration; m != nil {
		t.Logf("the migration moved %d of %d slots; interruptions: %q", m.SlotsDone, m.SlotsPlanned, m.Interruptions)
	}
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "install", 20000)
	pods = waitOperatorPods(t, 2, nil)
	checkDiscovery(t, &framework.Operator{HTTPAddr: net.JoinHostPort(newLeader.Status.PodIP, "9090")}, rc,
		"clusterName="+framework.SeedCluster)
	for _, p := range pods {
		require.Zero(t, p.Status.ContainerStatuses[0].RestartCount, "pod %s did not restart (its liveness probe held)", p.Name)
	}
	refused := operatorLogsRefused(t, earlier)

	// An upgrade with a changed value rolls the Deployment: new pods with it, the old ones gone.
	before := map[string]bool{}
	for _, p := range pods {
		before[p.Name] = true
	}
	start = time.Now()
	out, err = f.Helm(t, "upgrade", chartRelease, "charts/redis-operator", "--namespace", chartNamespace,
		"--reuse-values", "--set", "redisOperator.logLevel=debug", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	pods = waitOperatorPods(t, 2, func(p *corev1.Pod) bool {
		return !before[p.Name] && slices.Contains(p.Spec.Containers[0].Args, "--log-level=debug")
	})
	t.Logf("helm upgrade rolled both pods in %s", time.Since(start).Round(100*time.Millisecond))
	rolledLeader := leaderPod(t, pods)
	rc = f.WaitReady(t, framework.SeedNamespace, framework.SeedCluster, time.Minute)
	checkDiscovery(t, &framework.Operator{HTTPAddr: net.JoinHostPort(rolledLeader.Status.PodIP, "9090")}, rc,
		"clusterName="+framework.SeedCluster)
	refused = append(refused, operatorLogsRefused(t, earlier)...)
	require.Empty(t, refused, "the operator was refused with the chart's RBAC")

	// Uninstall removes every object of the release, and the pods' processes; the CRD stays.
	manifest, err := f.Helm(t, "get", "manifest", chartRelease, "--namespace", chartNamespace)
	require.NoError(t, err)
	uninstall(t, false)
	requireReleaseGone(t, manifest, "deployments,replicasets,services,serviceaccounts,secrets,configmaps,roles,rolebindings,leases")
	selector := "app.kubernetes.io/instance=" + chartRelease
	framework.WaitFor(t, 30*time.Second, "the operator pods and their processes to be gone", func() (bool, error) {
		list, err := f.Kube.CoreV1().Pods(chartNamespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(list.Items) > 0 {
			return false, err
		}
		for _, p := range pods {
			if conn, err := net.DialTimeout("tcp", net.JoinHostPort(p.Status.PodIP, "9090"), time.Second); err == nil {
				conn.Close()
				return false, fmt.Errorf("%s still answers at %s", p.Name, p.Status.PodIP)
			}
		}
		return true, nil
	})
	out, err = f.Kubectl(ctx, "get", "crd", "redisclusters.redis.redis", "-o", "name")
	require.NoError(t, err, "the CRD stays after uninstall: %s", out)
}

// archiveImage is what an image archive's index.json names.
type archiveImage struct{ name, digest string }

// readImageArchive reads the archive's index.json, failing with what to do when it is missing.
func readImageArchive(t *testing.T, path string) archiveImage {
	t.Helper()
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is missing: run `make image` first (make test-system builds it before the e2e tests)", path)
	}
	require.NoError(t, err)
	defer file.Close()
	tr := tar.NewReader(file)
	for {
		hdr, err := tr.Next()
		require.NoError(t, err, "%s has no index.json", path)
		if hdr.Name != "index.json" {
			continue
		}
		var index struct {
			Manifests []struct {
				Digest      string            `json:"digest"`
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		require.NoError(t, json.NewDecoder(tr).Decode(&index))
		require.Len(t, index.Manifests, 1, "%s names one image", path)
		m := index.Manifests[0]
		return archiveImage{name: m.Annotations["io.containerd.image.name"], digest: m.Digest}
	}
}

// chartAppVersion is the chart's appVersion, the tag of its default image.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(f.Root, "charts", "redis-operator", "Chart.yaml"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("Chart.yaml has no appVersion")
	return ""
}

// waitOperatorPods waits until exactly n pods of the release exist, all Running and Ready and
// all accepted by want (when given), and returns them.
func waitOperatorPods(t *testing.T, n int, want func(*corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	framework.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d Ready operator pods", n), func() (bool, error) {
		list, err := f.Kube.CoreV1().Pods(chartNamespace).List(context.Background(),
			metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + chartRelease})
		if err != nil {
			return false, err
		}
		pods = list.Items
		if len(pods) != n {
			return false, fmt.Errorf("%d pods", len(pods))
		}
		for i := range pods {
			p := &pods[i]
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(p) {
				return false, fmt.Errorf("pod %s: %s, ready %v", p.Name, p.Status.Phase, podReady(p))
			}
			if want != nil && !want(p) {
				return false, fmt.Errorf("pod %s is not the one wanted yet", p.Name)
			}
		}
		return true, nil
	})
	return pods
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// leaderPod is the pod of pods whose name the Lease holder's identity (host name, then a
// random suffix) starts with; it waits for one.
func leaderPod(t *testing.T, pods []corev1.Pod) corev1.Pod {
	t.Helper()
	var leader corev1.Pod
	framework.WaitFor(t, handOverBound, "one of the pods to hold the Lease", func() (bool, error) {
		holder, err := leaseHolder()
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			if strings.HasPrefix(holder, p.Name+"_") {
				leader = p
				return true, nil
			}
		}
		return false, fmt.Errorf("the Lease is held by %q", holder)
	})
	return leader
}

func leaseHolder() (string, error) {
	lease, err := f.Kube.CoordinationV1().Leases(chartNamespace).Get(context.Background(), chartRelease+"-leader", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if lease.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *lease.Spec.HolderIdentity, nil
}

// waitNewLeader waits, at most within, until a pod of the release other than old holds the
// Lease, and returns it.
func waitNewLeader(t *testing.T, old string, within time.Duration) corev1.Pod {
	t.Helper()
	var leader corev1.Pod
	framework.WaitFor(t, within, "another pod to take the Lease", func() (bool, error) {
		holder, err := leaseHolder()
		if err != nil || holder == "" || strings.HasPrefix(holder, old+"_") {
			return false, err
		}
		name, _, _ := strings.Cut(holder, "_")
		pod, err := f.Kube.CoreV1().Pods(chartNamespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		leader = *pod
		return true, nil
	})
	return leader
}

// podLog is the operator container's log, where the sandbox keeps it (a pod's folder under
// .sandbox/pods).
func podLog(t *testing.T, p corev1.Pod) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(f.Root, ".sandbox", "pods",
		fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), p.Spec.Containers[0].Name+".log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
	}
	return raw
}

// operatorLogsRefused are the refused API calls in the logs of the operator pods the sandbox ran
// for the release, leaving out those of earlier: a pod of an earlier install logs refusals
// while its uninstall removes the RBAC before it stops.
func operatorLogsRefused(t *testing.T, earlier map[string]bool) []string {
	t.Helper()
	var out []string
	for _, path := range operatorLogs(t) {
		if earlier[path] {
			continue
		}
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		out = append(out, forbiddenLines(raw)...)
	}
	return out
}

// operatorLogs are the log files of every operator pod the sandbox ran for the release.
func operatorLogs(t *testing.T) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(f.Root, ".sandbox", "pods", chartNamespace+"_"+chartRelease+"-*", "operator.log"))
	require.NoError(t, err)
	return logs
}

// logInstall logs the release's pods, events and the tail of each operator log, for a failure.
func logInstall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := f.Kubectl(ctx, "get", "pods,leases", "-n", chartNamespace, "-o", "wide")
	t.Logf("%s:\n%s", chartNamespace, out)
	out, _ = f.Kubectl(ctx, "get", "events", "-n", chartNamespace, "--sort-by=.lastTimestamp")
	t.Logf("events in %s:\n%s", chartNamespace, out)
	logs, _ := filepath.Glob(filepath.Join(f.Root, ".sandbox", "pods", chartNamespace+"_*", "*.log"))
	for _, path := range logs {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(raw) > 3000 {
			raw = raw[len(raw)-3000:]
		}
		t.Logf("%s (last 3000 bytes):\n%s", path, raw)
	}
	rc, err := f.Redis.RedisV1beta1().RedisClusters(framework.SeedNamespace).Get(ctx, framework.SeedCluster, metav1.GetOptions{})
	if err == nil {
		raw, _ := json.MarshalIndent(rc.Status, "", "  ")
		t.Logf("%s/%s status:\n%s", framework.SeedNamespace, framework.SeedCluster, raw)
	} else if !apierrors.IsNotFound(err) {
		t.Logf("reading %s/%s: %v", framework.SeedNamespace, framework.SeedCluster, err)
	}
}
