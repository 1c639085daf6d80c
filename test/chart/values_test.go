package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// The chart's values: what values.schema.json refuses, what the original chart's values still
// do, and the README's table naming each of them.

func TestBadValuesFail(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want         []string // all must appear in helm's error
	}{
		{"negative replicas", "redisOperator: {replicaCount: -1}",
			[]string{"/redisOperator/replicaCount", "minimum"}},
		{"unknown service type", "redisOperator: {service: {type: Foo}}",
			[]string{"/redisOperator/service/type", "ClusterIP", "NodePort", "LoadBalancer"}},
		{"port out of range", "redisOperator: {service: {port: 70000}}",
			[]string{"/redisOperator/service/port", "maximum"}},
		{"memory threshold above 1", "redisOperator: {metrics: {prometheusRule: {rules: {memoryThreshold: 1.5}}}}",
			[]string{"/redisOperator/metrics/prometheusRule/rules/memoryThreshold", "maximum"}},
		{"threshold as text", "redisOperator: {metrics: {prometheusRule: {rules: {throughputThreshold: lots}}}}",
			[]string{"/redisOperator/metrics/prometheusRule/rules/throughputThreshold", "want number"}},
		{"duration without unit", "redisOperator: {metrics: {prometheusRule: {rules: {highFor: \"5\"}}}}",
			[]string{"/redisOperator/metrics/prometheusRule/rules/highFor"}},
		{"misspelt key", "redisOperator: {replicas: 3}",
			[]string{"/redisOperator", "replicas", "not allowed"}},
		{"bad namespace", "redisOperator: {watchNamespace: Cache_1}",
			[]string{"/redisOperator/watchNamespace"}},
		{"log level", "redisOperator: {logLevel: verbose}",
			[]string{"/redisOperator/logLevel", "debug"}},
		{"several leaders", "redisOperator: {replicaCount: 3, leaderElection: {enabled: false}}",
			[]string{"redisOperator.replicaCount is 3", "leaderElection.enabled is false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderErr(t, renderOptions{values: tc.values})
			if err == nil {
				t.Fatalf("values %q rendered; want an error naming %v", tc.values, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestOriginalValuesStillInstall(t *testing.T) {
	// The original chart's README configured autoscaling and the Service like this.
	objs := render(t, renderOptions{
		values: `
prometheus:
  enabled: true
  server: {scrapeInterval: 1m, evaluationInterval: 1m}
redisOperator:
  service: {type: NodePort}
  metrics:
    prometheusRule:
      enabled: true
      rules: {memoryThreshold: 0.7, throughputThreshold: 2000}
`,
		apiVersions: []string{monitoringV1},
	})
	if typ := objs.one(t, "Service").field(t, "spec", "type"); typ != "NodePort" {
		t.Errorf("Service type = %v, want NodePort", typ)
	}
	rules := fmt.Sprint(objs.one(t, "PrometheusRule").field(t, "spec", "groups"))
	for _, want := range []string{") > 0.7", ") > 2000"} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules do not compare with %q: %s", want, rules)
		}
	}
}

// TestReadmeDocumentsEveryValue checks that the chart README's table names every value of
// values.yaml (maps of free-form content as a whole).
func TestReadmeDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	freeForm := map[string]bool{
		"redisOperator.resources": true, "redisOperator.podSecurityContext": true,
		"redisOperator.securityContext": true, "redisOperator.metrics.grafanaDashboard.labels": true,
	}
	var paths []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 || freeForm[prefix] {
			paths = append(paths, prefix)
			return
		}
		for k, child := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			walk(k, child)
		}
	}
	walk("", values)
	if len(paths) < 50 {
		t.Fatalf("found only %d values; the walk is broken", len(paths))
	}
	for _, p := range sorted(paths) {
		if !strings.Contains(string(readme), "| `"+p+"` |") {
			t.Errorf("README.md has no row for value %s", p)
		}
	}
}
