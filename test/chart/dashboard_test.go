package chart

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The redis_exporter metrics the dashboard and the rules rely on.
var exporterMetrics = map[string]bool{
	"redis_up": true, "redis_memory_used_bytes": true, "redis_memory_max_bytes": true,
	"redis_commands_processed_total": true, "redis_db_keys": true, "redis_instance_info": true,
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// renderDashboard returns the dashboard ConfigMap and the dashboard it carries.
func renderDashboard(t *testing.T, o renderOptions) (corev1.ConfigMap, dashboard) {
	t.Helper()
	var cm corev1.ConfigMap
	render(t, o).one(t, "ConfigMap").decode(t, &cm)
	if len(cm.Data) != 1 {
		t.Fatalf("dashboard ConfigMap holds %d keys, want 1", len(cm.Data))
	}
	var d dashboard
	for key, text := range cm.Data {
		if !strings.HasSuffix(key, ".json") {
			t.Errorf("key %s: the Grafana sidecar loads *.json", key)
		}
		if err := json.Unmarshal([]byte(text), &d); err != nil {
			t.Fatalf("dashboard is not JSON: %v", err)
		}
	}
	return cm, d
}

// grafanaVariables are replaced by PromQL that parses, to check the panels' queries.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$namespace", ".*", "$cluster", ".*",
)

// sourceMetricNames are the metric names the operator registers (Name: "..." in pkg/).
func sourceMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`Name:\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	err := filepath.WalkDir(filepath.Join(root, "pkg"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		for _, m := range re.FindAllSubmatch(data, -1) {
			names[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestDashboard(t *testing.T) {
	cm, d := renderDashboard(t, renderOptions{})
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack the sidecar label grafana_dashboard=1", cm.Labels)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title, got %q %q", d.UID, d.Title)
	}

	// Every query parses as PromQL: promtool checks them as recording rules.
	var rules []map[string]string
	var exprs []string
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("variable %s: %v", v.Name, err)
			}
			// label_values(selector, label) is Grafana's; its selector is PromQL.
			inner := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(q.Query)
			if inner == nil {
				t.Fatalf("variable %s: unexpected query %q", v.Name, q.Query)
			}
			exprs = append(exprs, inner[1])
		}
	}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query_%d", i), "expr": grafanaVariables.Replace(e)})
	}
	groups, err := json.Marshal([]any{map[string]any{"name": "dashboard", "rules": rules}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeRuleFile(t, filepath.Join(dir, "dashboard.yaml"), groups)
	promtool(t, dir, "check", "rules", "--lint=none", "dashboard.yaml")

	// What the dashboard must show: memory and load, keys, slots and their migration, and the
	// operator's own reconciles.
	for _, title := range []string{
		"Memory used, fullest node", "Commands per second, busiest node", "Keys per cluster",
		"Slots per master", "Slot migration progress", "Reconciles per second", "Reconcile duration",
	} {
		if !titles[title] {
			t.Errorf("no panel %q", title)
		}
	}

	// Every metric is one the exporter or the operator exports.
	operator := sourceMetricNames(t)
	metricRef := regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]`)
	for _, e := range exprs {
		for _, m := range metricRef.FindAllStringSubmatch(e, -1) {
			name := m[1]
			base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(name, "")
			switch {
			case name == "ALERTS" || exporterMetrics[name]:
			case operator[name] || operator[base]:
			default:
				t.Errorf("query %q uses %s, which neither redis_exporter nor the operator exports", e, name)
			}
		}
	}
}

func TestDashboardSidecarLabel(t *testing.T) {
	cm, _ := renderDashboard(t, renderOptions{values: `
redisOperator:
  metrics:
    grafanaDashboard:
      labels: {grafana_dashboard: null, dashboards: redis}
      annotations: {grafana_folder: Redis}
      namespace: monitoring
`})
	if cm.Labels["dashboards"] != "redis" || cm.Labels["grafana_dashboard"] != "" {
		t.Errorf("labels %v: want the configured sidecar label only", cm.Labels)
	}
	if cm.Annotations["grafana_folder"] != "Redis" || cm.Namespace != "monitoring" {
		t.Errorf("annotations %v in %s, want grafana_folder=Redis in monitoring", cm.Annotations, cm.Namespace)
	}
}
