package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// The umbrella chart depends on kube-prometheus-stack, which cannot be downloaded here. What can
// be tested offline: its Chart.yaml, helm lint (which only warns about the missing archives),
// its values schema, and, with a stand-in for kube-prometheus-stack, that its values pass the
// redis-operator chart's schema and render the operator with all its monitoring.

func TestStackChartDependencies(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(stackDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		APIVersion   string `json:"apiVersion"`
		Dependencies []struct {
			Name, Version, Repository, Condition string
		} `json:"dependencies"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	deps := map[string]string{}
	for _, d := range chart.Dependencies {
		deps[d.Name] = d.Repository
	}
	want := map[string]string{"kube-prometheus-stack": "@prometheus-community", "redis-operator": "file://../redis-operator"}
	if chart.APIVersion != "v2" || len(deps) != len(want) || deps["kube-prometheus-stack"] != want["kube-prometheus-stack"] ||
		deps["redis-operator"] != want["redis-operator"] {
		t.Errorf("apiVersion %s, dependencies %v; want v2 and %v", chart.APIVersion, deps, want)
	}
	if _, err := os.Stat(filepath.Join(chartDir, "Chart.yaml")); err != nil {
		t.Errorf("file://../redis-operator does not lead to the chart: %v", err)
	}
}

func TestStackChartLint(t *testing.T) {
	out, err := helm("lint", stackDir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "0 chart(s) failed") || !strings.Contains(out, "missing these dependencies") {
		t.Errorf("want a passing lint that only warns about the missing dependencies:\n%s", out)
	}
	for _, tc := range []struct{ set, want string }{
		{"kube-prometheus-stack.enabled=maybe", "/kube-prometheus-stack/enabled"},
		{"redisoperator.service.type=NodePort", "additional properties 'redisoperator' not allowed"},
	} {
		out, err := helm("lint", stackDir, "--set", tc.set)
		if err == nil || !strings.Contains(err.Error()+out, tc.want) {
			t.Errorf("lint --set %s: want a failure naming %q, got %v\n%s", tc.set, tc.want, err, out)
		}
	}
}

// stackWithStandIns copies the umbrella chart with its dependencies in charts/: the
// redis-operator chart itself and an empty stand-in named kube-prometheus-stack.
func stackWithStandIns(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "redis-operator-stack")
	if err := os.CopyFS(dir, os.DirFS(stackDir)); err != nil {
		t.Fatal(err)
	}
	// Dependencies fetched by helm dependency build, if any, are replaced by the ones below.
	for _, fetched := range []string{"charts", "Chart.lock"} {
		if err := os.RemoveAll(filepath.Join(dir, fetched)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "charts", "redis-operator"), os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	standIn := filepath.Join(dir, "charts", "kube-prometheus-stack")
	if err := os.MkdirAll(standIn, 0o755); err != nil {
		t.Fatal(err)
	}
	chart := "apiVersion: v2\nname: kube-prometheus-stack\nversion: 86.0.0\ndescription: offline stand-in, renders nothing\n"
	if err := os.WriteFile(filepath.Join(standIn, "Chart.yaml"), []byte(chart), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestStackChartWiresTheOperator(t *testing.T) {
	dir := stackWithStandIns(t)
	if out, err := helm("lint", "--strict", dir); err != nil {
		t.Fatalf("lint with the dependencies in place: %v\n%s", err, out)
	}
	// The stack installs the Prometheus Operator CRDs first, so its APIs are there at render time.
	objs := render(t, renderOptions{chart: dir, namespace: "monitoring", apiVersions: []string{monitoringV1, monitoringV1alpha1}})
	want := sorted(append(append([]string(nil), baseKinds...), "AlertmanagerConfig", "PodMonitor", "PrometheusRule", "ServiceMonitor"))
	if got := objs.kinds(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("kinds:\n got  %v\n want %v", got, want)
	}
	if label := objs.one(t, "ConfigMap").field(t, "metadata", "labels", "grafana_dashboard"); label != "1" {
		t.Errorf("dashboard label grafana_dashboard = %v, want the label the stack's Grafana sidecar watches", label)
	}
	// The operator's values are checked by its own schema through the umbrella.
	_, err := renderErr(t, renderOptions{chart: dir, set: []string{"redis-operator.redisOperator.service.type=Foo"}})
	if err == nil || !strings.Contains(err.Error(), "/redisOperator/service/type") {
		t.Errorf("a bad redis-operator value through the umbrella: got %v, want the schema error", err)
	}
}

// TestStackValuesWireTheStack checks the kube-prometheus-stack settings the loop depends on.
func TestStackValuesWireTheStack(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(stackDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var v any = values
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	kps := []string{"kube-prometheus-stack"}
	for _, tc := range []struct {
		path []string
		want any
	}{
		{append(kps, "prometheus", "prometheusSpec", "serviceMonitorSelectorNilUsesHelmValues"), false},
		{append(kps, "prometheus", "prometheusSpec", "podMonitorSelectorNilUsesHelmValues"), false},
		{append(kps, "prometheus", "prometheusSpec", "ruleSelectorNilUsesHelmValues"), false},
		{append(kps, "alertmanager", "alertmanagerSpec", "alertmanagerConfigMatcherStrategy", "type"), "None"},
		{append(kps, "grafana", "sidecar", "dashboards", "enabled"), true},
		{append(kps, "grafana", "sidecar", "dashboards", "label"), "grafana_dashboard"},
		{append(kps, "grafana", "sidecar", "dashboards", "labelValue"), "1"},
		{append(kps, "grafana", "sidecar", "dashboards", "searchNamespace"), "ALL"},
	} {
		if got := get(tc.path...); got != tc.want {
			t.Errorf("%s = %v, want %v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
}
