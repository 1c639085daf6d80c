package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/httpapi"
	"redis-operator/test/e2e/framework"
)

const (
	chartRelease   = "redis-operator"
	chartNamespace = "ops"
)

// TestHelmChartInstallsAnOperatorItsRBACIsEnoughFor installs the chart as its README says, runs
// the operator binary with exactly the Deployment's flags and a token of the chart's
// ServiceAccount, and checks that it brings the seed cluster to Ready and scales it from the
// webhook with the chart's token, without one forbidden call; then that uninstall leaves only
// the CRD. The sandbox runs no operator image, so the Deployment has 0 replicas.
func TestHelmChartInstallsAnOperatorItsRBACIsEnoughFor(t *testing.T) {
	ctx := context.Background()
	// A run killed half-way leaves the release behind; its cluster-scoped objects would make the
	// next install fail.
	uninstall(t, true)
	f.DeleteNamespace(t, chartNamespace)
	t.Cleanup(func() {
		uninstall(t, true)
		f.DeleteNamespace(t, chartNamespace)
	})

	_, crdErr := f.Kubectl(ctx, "get", "crd", "redisclusters.redis.redis")
	crdExisted := crdErr == nil
	out, err := f.Helm(t, "install", chartRelease, "charts/redis-operator", "--namespace", chartNamespace,
		"--create-namespace", "--set", "redisOperator.replicaCount=0")
	require.NoError(t, err, out)
	if crdExisted {
		t.Log("the CRD existed before the install (an earlier test applied it); helm skipped crds/")
	}
	f.WaitCRDEstablished(t)

	manifest, err := f.Helm(t, "get", "manifest", chartRelease, "--namespace", chartNamespace)
	require.NoError(t, err)
	installed, err := f.KubectlStdin(ctx, manifest, "get", "-f", "-", "-o", "name")
	require.NoError(t, err, installed)
	kinds := objectKinds(installed)
	t.Logf("release objects: %s", strings.Join(strings.Fields(installed), " "))
	for _, kind := range []string{"serviceaccount", "secret", "configmap", "clusterrole.rbac.authorization.k8s.io",
		"clusterrolebinding.rbac.authorization.k8s.io", "role.rbac.authorization.k8s.io",
		"rolebinding.rbac.authorization.k8s.io", "service", "deployment.apps", "lease.coordination.k8s.io"} {
		require.Contains(t, kinds, kind, "the release has a %s", kind)
	}

	// An upgrade with changed values rolls them into the Deployment and keeps the generated token.
	deploy := chartDeployment(t)
	tokenBefore := webhookToken(t, deploy)
	out, err = f.Helm(t, "upgrade", chartRelease, "charts/redis-operator", "--namespace", chartNamespace,
		"--reuse-values", "--set", "redisOperator.logLevel=debug", "--set", "redisOperator.resyncPeriod=5s")
	require.NoError(t, err, out)
	deploy = chartDeployment(t)
	args := deploy.Spec.Template.Spec.Containers[0].Args
	require.Contains(t, args, "--log-level=debug")
	require.Contains(t, args, "--resync-period=5s")
	require.Equal(t, tokenBefore, webhookToken(t, deploy), "the upgrade kept the webhook token")
	history, err := f.Helm(t, "history", chartRelease, "--namespace", chartNamespace, "-o", "json")
	require.NoError(t, err)
	require.Contains(t, history, `"revision":2`)

	// The operator runs as the Deployment's pod would: its ServiceAccount, its flags, its token
	// file. Only the listen addresses differ, since every process here shares the host network.
	kubeconfig := f.ServiceAccountKubeconfig(t, chartNamespace, deploy.Spec.Template.Spec.ServiceAccountName)
	op := f.StartOperatorAs(t, kubeconfig, podArgs(t, deploy, tokenBefore)...)

	ns := f.Namespace(t, "chart")
	seed := strings.Replace(seedCluster(t, ns), "basePort: 10000", fmt.Sprintf("basePort: %d", f.FreeBasePort(t)), 1)
	out, err = kubectlApply(t, seed)
	require.NoError(t, err, out)
	rc := waitReadyUnrefused(t, op, ns, "rediscluster1")
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	require.EqualValues(t, 3, rc.Status.ReadyReplicas)

	// Alertmanager's call, with the token of the chart's Secret: a wrong one changes nothing.
	alert := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing",`+
		`"labels":{"alertname":"HighMemoryUsage","redis_cluster":"rediscluster1","namespace":%q},`+
		`"annotations":{"scale_count":"1"},"startsAt":%q}]}`, ns, time.Now().UTC().Format(time.RFC3339))
	code, _, _ := apiCall(t, op, http.MethodPost, "/webhooks/alertmanager", alert, bearer("wrong-token"))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, raw := apiCall(t, op, http.MethodPost, "/webhooks/alertmanager", alert, bearer(tokenBefore))
	body := string(raw)
	require.Equal(t, http.StatusOK, code, body)
	var resp httpapi.WebhookResponse
	require.NoError(t, json.Unmarshal(raw, &resp), body)
	require.Len(t, resp.Alerts, 1, body)
	require.Equal(t, httpapi.OutcomeScaled, resp.Alerts[0].Outcome, body)
	require.EqualValues(t, 4, resp.Alerts[0].To, body)
	rc = waitReadyUnrefused(t, op, ns, "rediscluster1")
	require.EqualValues(t, 4, rc.Spec.Masters)
	require.EqualValues(t, 4, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)

	// It led through the chart's Lease, and nothing it did was refused.
	leaseName := flagValue(t, args, "--leader-election-id")
	lease, err := f.Kube.CoordinationV1().Leases(chartNamespace).Get(ctx, leaseName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, lease.Spec.HolderIdentity)
	require.NotEmpty(t, *lease.Spec.HolderIdentity, "the operator holds the chart's Lease")
	op.Stop()
	logged, err := os.ReadFile(op.LogPath)
	require.NoError(t, err)
	require.Contains(t, string(logged), `"lease":"`+chartNamespace+"/"+leaseName+`"`)
	if lines := forbiddenLines(logged); len(lines) > 0 {
		t.Fatalf("the operator was refused with the chart's RBAC:\n%s", strings.Join(lines, "\n"))
	}

	// Uninstall removes every object of the release, and the CRD stays.
	f.DeleteNamespace(t, ns)
	uninstall(t, false)
	requireReleaseGone(t, manifest, "all,serviceaccounts,secrets,configmaps,roles,rolebindings,leases")
	left, err := f.Kubectl(ctx, "get", "secrets", "-n", chartNamespace, "-l", "owner=helm", "-o", "name")
	require.NoError(t, err, left)
	require.Empty(t, left, "helm's release records are left")
	out, err = f.Kubectl(ctx, "get", "crd", "redisclusters.redis.redis", "-o", "name")
	require.NoError(t, err, "the CRD stays after uninstall: %s", out)
}

// uninstall runs helm uninstall; ignoreMissing is for cleanups, where the release may be gone.
func uninstall(t *testing.T, ignoreMissing bool) {
	t.Helper()
	args := []string{"uninstall", chartRelease, "--namespace", chartNamespace, "--wait", "--timeout", "2m"}
	if ignoreMissing {
		args = append(args, "--ignore-not-found")
	}
	if out, err := f.Helm(t, args...); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}

// objectKinds are the kinds in `kubectl get -o name` output ("deployment.apps/x" -> "deployment.apps").
func objectKinds(names string) []string {
	var kinds []string
	for _, n := range strings.Fields(names) {
		kind, _, _ := strings.Cut(n, "/")
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	return kinds
}

func chartDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := f.Kube.AppsV1().Deployments(chartNamespace).Get(context.Background(), chartRelease, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	return d
}

// webhookToken reads the token the Deployment mounts from the volume of its token file.
func webhookToken(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret == nil || v.Name != "webhook-token" {
			continue
		}
		s, err := f.Kube.CoreV1().Secrets(chartNamespace).Get(context.Background(), v.Secret.SecretName, metav1.GetOptions{})
		require.NoError(t, err)
		require.Len(t, v.Secret.Items, 1)
		token := string(s.Data[v.Secret.Items[0].Key])
		require.NotEmpty(t, token)
		return token
	}
	t.Fatal("the Deployment mounts no webhook-token Secret")
	return ""
}

// podArgs are the container's args as the pod would run them: $(POD_NAMESPACE) expanded, the
// token file written where the test can read it, and the listen addresses left to StartOperator.
func podArgs(t *testing.T, d *appsv1.Deployment, token string) []string {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	var args []string
	sawToken := false
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		switch {
		case strings.HasPrefix(a, "--http-addr="), strings.HasPrefix(a, "--metrics-addr="):
			continue
		case strings.HasPrefix(a, "--webhook-token-file="):
			a, sawToken = "--webhook-token-file="+tokenFile, true
		}
		args = append(args, strings.ReplaceAll(a, "$(POD_NAMESPACE)", chartNamespace))
	}
	require.True(t, sawToken, "the Deployment passes --webhook-token-file: %v", args)
	require.Contains(t, args, "--leader-elect")
	t.Logf("operator args from the Deployment: %v", args)
	return args
}

// waitReadyUnrefused is WaitReady failing at once, with the refused calls, when the operator logs
// one: an informer refused a list retries forever, and the wait would only time out.
func waitReadyUnrefused(t *testing.T, op *framework.Operator, namespace, name string) *redisv1beta1.RedisCluster {
	t.Helper()
	var refused []string
	_ = framework.Poll(2*time.Minute, "Ready or a refused call", func() (bool, error) {
		if raw, err := os.ReadFile(op.LogPath); err == nil {
			refused = forbiddenLines(raw)
		}
		rc, err := f.Redis.RedisV1beta1().RedisClusters(namespace).Get(context.Background(), name, metav1.GetOptions{})
		ready := err == nil && rc.Status.ObservedGeneration == rc.Generation &&
			meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionReady)
		return len(refused) > 0 || ready, err
	})
	if len(refused) > 0 {
		t.Fatalf("the operator was refused with the chart's RBAC:\n%s", strings.Join(refused, "\n"))
	}
	return f.WaitReady(t, namespace, name, 10*time.Second)
}

// forbiddenLines are the log lines reporting an API call the authorizer refused ("... is
// forbidden: User \"system:serviceaccount:...\" cannot ..."). Other refusals say forbidden too,
// such as creating in a namespace an earlier test is deleting, and are not about RBAC.
func forbiddenLines(log []byte) []string {
	var out []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `forbidden: User \"`) || strings.Contains(line, `forbidden: User "`) {
			out = append(out, line)
		}
	}
	return out
}

// flagValue is the value of --name=value in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s in %v", name, args)
	return ""
}

// requireReleaseGone fails t unless an uninstall left nothing of the release: no object of its
// manifest, none of kinds labelled with it in its namespace, no cluster-wide RBAC of it.
func requireReleaseGone(t *testing.T, manifest, kinds string) {
	t.Helper()
	ctx := context.Background()
	left, err := f.KubectlStdin(ctx, manifest, "get", "-f", "-", "-o", "name", "--ignore-not-found")
	require.NoError(t, err, left)
	require.Empty(t, left, "helm uninstall left objects of the release")
	selector := "app.kubernetes.io/instance=" + chartRelease
	left, err = f.Kubectl(ctx, "get", kinds, "-n", chartNamespace, "-l", selector, "-o", "name")
	require.NoError(t, err, left)
	require.Empty(t, left, "objects labelled with the release are left in %s", chartNamespace)
	left, err = f.Kubectl(ctx, "get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name")
	require.NoError(t, err, left)
	require.Empty(t, left, "cluster-scoped objects of the release are left")
}
