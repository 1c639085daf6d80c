package chart

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeCluster is the little of a Kubernetes API server that helm needs for --dry-run=server:
// version and discovery (with or without the Prometheus Operator's API), reading Secrets (the
// webhook token's lookup, and helm's release records, none), and 404 for every other object.
type fakeCluster struct {
	monitoring bool
	secrets    map[string]*corev1.Secret // by namespace/name
}

// kinds served per group version; namespaced unless listed in clusterScoped.
var fakeResources = map[string][]string{
	"v1":                             {"pods", "services", "secrets", "configmaps", "serviceaccounts", "persistentvolumeclaims", "events", "namespaces"},
	"apps/v1":                        {"deployments"},
	"rbac.authorization.k8s.io/v1":   {"clusterroles", "clusterrolebindings", "roles", "rolebindings"},
	"coordination.k8s.io/v1":         {"leases"},
	"monitoring.coreos.com/v1":       {"servicemonitors", "podmonitors", "prometheusrules"},
	"monitoring.coreos.com/v1alpha1": {"alertmanagerconfigs"},
}

var clusterScoped = map[string]bool{"clusterroles": true, "clusterrolebindings": true, "namespaces": true}

// kindOf turns a plural resource into its kind: clusterrolebindings -> ClusterRoleBinding.
var kindOf = map[string]string{
	"pods": "Pod", "services": "Service", "secrets": "Secret", "configmaps": "ConfigMap",
	"serviceaccounts": "ServiceAccount", "persistentvolumeclaims": "PersistentVolumeClaim", "events": "Event",
	"namespaces": "Namespace", "deployments": "Deployment", "clusterroles": "ClusterRole",
	"clusterrolebindings": "ClusterRoleBinding", "roles": "Role", "rolebindings": "RoleBinding", "leases": "Lease",
	"servicemonitors": "ServiceMonitor", "podmonitors": "PodMonitor", "prometheusrules": "PrometheusRule",
	"alertmanagerconfigs": "AlertmanagerConfig",
}

func (f *fakeCluster) served(gv string) bool {
	_, ok := fakeResources[gv]
	return ok && (f.monitoring || !strings.HasPrefix(gv, "monitoring.coreos.com/"))
}

func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	notFound := func() {
		reply(http.StatusNotFound, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound, Message: r.URL.Path + " not found"})
	}
	if r.Method != http.MethodGet {
		reply(http.StatusMethodNotAllowed, metav1.Status{Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed})
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	switch {
	case path == "version":
		reply(http.StatusOK, map[string]string{"major": "1", "minor": "37", "gitVersion": "v1.37.0", "platform": "linux/amd64"})
		return
	case path == "api":
		reply(http.StatusOK, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}})
		return
	case path == "apis":
		list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		groups := map[string]*metav1.APIGroup{}
		var order []string
		for gv := range fakeResources {
			group, version, ok := strings.Cut(gv, "/")
			if !ok || !f.served(gv) {
				continue
			}
			g := groups[group]
			if g == nil {
				g = &metav1.APIGroup{Name: group}
				groups[group] = g
				order = append(order, group)
			}
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: version}
			g.Versions = append(g.Versions, v)
			g.PreferredVersion = v
		}
		for _, name := range sorted(order) {
			list.Groups = append(list.Groups, *groups[name])
		}
		reply(http.StatusOK, list)
		return
	}
	// /api/v1[/namespaces/NS]/RESOURCE[/NAME] or /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME]
	parts := strings.Split(path, "/")
	var gv string
	switch {
	case parts[0] == "api" && len(parts) >= 2:
		gv, parts = parts[1], parts[2:]
	case parts[0] == "apis" && len(parts) >= 3:
		gv, parts = parts[1]+"/"+parts[2], parts[3:]
	default:
		notFound()
		return
	}
	if !f.served(gv) {
		notFound()
		return
	}
	if len(parts) == 0 {
		list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
		for _, res := range fakeResources[gv] {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: res, Kind: kindOf[res],
				Namespaced: !clusterScoped[res], Verbs: metav1.Verbs{"get", "list", "watch", "create", "update", "patch", "delete"}})
		}
		reply(http.StatusOK, list)
		return
	}
	namespace := ""
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		namespace, parts = parts[1], parts[2:]
	}
	switch {
	case gv == "v1" && len(parts) == 1 && parts[0] == "secrets":
		// helm's release records: there is no release yet.
		reply(http.StatusOK, corev1.SecretList{TypeMeta: metav1.TypeMeta{Kind: "SecretList", APIVersion: "v1"}})
	case gv == "v1" && len(parts) == 2 && parts[0] == "secrets" && f.secrets[namespace+"/"+parts[1]] != nil:
		reply(http.StatusOK, f.secrets[namespace+"/"+parts[1]])
	default:
		notFound()
	}
}

// kubeconfig starts the fake cluster and writes a kubeconfig pointing at it.
func (f *fakeCluster) kubeconfig(t *testing.T) string {
	t.Helper()
	server := httptest.NewServer(f)
	t.Cleanup(server.Close)
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: fake, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: ops}}]
current-context: fake
`, server.URL)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUpgradeKeepsWebhookToken renders against a cluster that already holds the release's
// webhook Secret: the chart must reuse its token, not generate a new one.
func TestUpgradeKeepsWebhookToken(t *testing.T) {
	const token = "kept-token-of-the-first-install"
	cluster := &fakeCluster{secrets: map[string]*corev1.Secret{
		"ops/rel-redis-operator-webhook": {
			TypeMeta:   metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "rel-redis-operator-webhook", Namespace: "ops"},
			Data:       map[string][]byte{"token": []byte(token)},
		},
	}}
	out, err := helm("template", "rel", chartDir, "--namespace", "ops", "--dry-run=server", "--kubeconfig", cluster.kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	objs.one(t, "Secret").decode(t, &secret)
	if got := string(secret.Data["token"]); got != token {
		t.Errorf("token after upgrade = %q, want the live Secret's %q", got, token)
	}
}

// TestInstallNotes installs (dry run) against clusters with and without the Prometheus Operator
// and reads the notes helm prints.
func TestInstallNotes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		monitoring bool
		set        string
		want       []string
		wantNot    []string
	}{
		{name: "ClusterIP without Prometheus Operator", set: "redisOperator.service.type=ClusterIP",
			want: []string{
				"curl 'http://rel-redis-operator.ops.svc:9090/cluster/nodes?clusterName=rediscluster1'",
				"kubectl port-forward -n ops svc/rel-redis-operator 9090:9090",
				"does not serve monitoring.coreos.com/v1 (Prometheus Operator)",
				"Secret rel-redis-operator-webhook (key token)",
			},
			wantNot: []string{"PodMonitor (Redis exporters): created"}},
		{name: "NodePort with Prometheus Operator", monitoring: true, set: "redisOperator.service.type=NodePort",
			want: []string{
				"From outside (NodePort)",
				`/cluster/nodes?clusterName=rediscluster1"`,
				"PodMonitor (Redis exporters): created",
				"AlertmanagerConfig (alerts -> webhook): created",
				"alertmanagerConfigMatcherStrategy type None",
			}},
		{name: "original values file", set: "redisOperator.service.type=LoadBalancer,prometheus.enabled=true",
			want: []string{"From outside (LoadBalancer", "the value \"prometheus\" belonged to the original chart"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := &fakeCluster{monitoring: tc.monitoring}
			out, err := helm("install", "rel", chartDir, "--namespace", "ops", "--dry-run=server",
				"--disable-openapi-validation", "--kubeconfig", cluster.kubeconfig(t), "--set", tc.set)
			if err != nil {
				t.Fatal(err)
			}
			_, notes, found := strings.Cut(out, "\nNOTES:\n")
			if !found {
				t.Fatalf("no NOTES in helm install output:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(notes, w) {
					t.Errorf("NOTES say %q:\n%s", w, notes)
				}
			}
		})
	}
}
