package chart

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	clusterobjects "redis-operator/pkg/controller/objects"
)

// The alerts the operator's webhook scales on (pkg/httpapi/alertmanager.go).
var autoscalingAlerts = []string{"HighMemoryUsage", "HighThroughput", "LowMemoryUsage", "LowThroughput"}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []struct {
		Alert       string            `json:"alert"`
		Expr        string            `json:"expr"`
		For         string            `json:"for"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"rules"`
}

// renderRuleGroups renders the chart's PrometheusRule and returns its spec.groups, raw and parsed.
func renderRuleGroups(t *testing.T, o renderOptions) (json.RawMessage, []ruleGroup) {
	t.Helper()
	o.apiVersions = append(o.apiVersions, monitoringV1)
	o.showOnly = []string{"templates/prometheusrule.yaml"}
	var rule struct {
		Spec struct {
			Groups json.RawMessage `json:"groups"`
		} `json:"spec"`
	}
	render(t, o).one(t, "PrometheusRule").decode(t, &rule)
	var groups []ruleGroup
	if err := json.Unmarshal(rule.Spec.Groups, &groups); err != nil {
		t.Fatal(err)
	}
	return rule.Spec.Groups, groups
}

// promtool runs bin/tools/promtool in dir and fails the test with its output when it fails.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtoolBin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeRuleFile writes a Prometheus rule file (JSON is YAML) with the given groups.
func writeRuleFile(t *testing.T, path string, groups json.RawMessage) {
	t.Helper()
	data, err := json.MarshalIndent(map[string]json.RawMessage{"groups": groups}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAlertRules renders the shipped rules and runs promtool's unit tests
// (testdata/autoscaling_rules_test.yaml) against them.
func TestAlertRules(t *testing.T) {
	raw, groups := renderRuleGroups(t, renderOptions{})
	var names []string
	for _, g := range groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	if got := strings.Join(sorted(names), ","); got != strings.Join(autoscalingAlerts, ",") {
		t.Fatalf("alerts = %s, want %v", got, autoscalingAlerts)
	}

	dir := t.TempDir()
	writeRuleFile(t, filepath.Join(dir, "rules.yaml"), raw)
	tests, err := os.ReadFile(filepath.Join("testdata", "autoscaling_rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "autoscaling_rules_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(promtool(t, dir, "check", "rules", "rules.yaml"))
	t.Log(promtool(t, dir, "test", "rules", "autoscaling_rules_test.yaml"))
}

func TestAlertRulesFollowValues(t *testing.T) {
	_, groups := renderRuleGroups(t, renderOptions{values: `
redisOperator:
  metrics:
    prometheusRule:
      rules:
        memoryThreshold: 0.75
        throughputThreshold: 5000
        lowMemoryThreshold: 0.2
        lowThroughputThreshold: 50
        highFor: 2m
        lowFor: 30m
        rateWindow: 5m
        scaleOutCount: 2
        scaleInCount: 1
        severity: critical
`})
	// Each expression compares with its threshold; the Low ones also hold back while the other
	// measure is High. Throughput is a rate over rateWindow.
	want := map[string]struct {
		compare     []string
		forDuration string
		step        string
	}{
		"HighMemoryUsage": {[]string{") > 0.75"}, "2m", "2"},
		"HighThroughput":  {[]string{"[5m])", ") > 5000"}, "2m", "2"},
		"LowMemoryUsage":  {[]string{") < 0.2)", "[5m])", ") > 5000)"}, "30m", "1"},
		"LowThroughput":   {[]string{"[5m])", ") < 50)", ") > 0.75)"}, "30m", "1"},
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			w := want[r.Alert]
			for _, c := range w.compare {
				if !strings.Contains(r.Expr, c) {
					t.Errorf("%s: expression lacks %q:\n%s", r.Alert, c, r.Expr)
				}
			}
			if r.For != w.forDuration || r.Annotations["scale_count"] != w.step || r.Labels["severity"] != "critical" {
				t.Errorf("%s: for %s, scale_count %q, severity %q; want %s, %s, critical",
					r.Alert, r.For, r.Annotations["scale_count"], r.Labels["severity"], w.forDuration, w.step)
			}
		}
	}
}

// sourceString returns the first group of re in a file of the operator's source.
func sourceString(t *testing.T, file string, re *regexp.Regexp) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	m := re.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s no longer matches %s", file, re)
	}
	return string(m[1])
}

// promLabel is the Prometheus service discovery name of a Kubernetes pod label.
func promLabel(k8sLabel string) string {
	return "__meta_kubernetes_pod_label_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(k8sLabel, "_")
}

// TestPodMonitorFindsTheExporters checks the PodMonitor against the labels and port name the
// operator gives the Redis pods, and that it labels the series the way the rules aggregate them.
func TestPodMonitorFindsTheExporters(t *testing.T) {
	var pm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port        string `json:"port"`
				Relabelings []struct {
					SourceLabels []string `json:"sourceLabels"`
					TargetLabel  string   `json:"targetLabel"`
				} `json:"relabelings"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	render(t, renderOptions{apiVersions: []string{monitoringV1}}).one(t, "PodMonitor").decode(t, &pm)

	redisName := sourceString(t, "pkg/controller/objects/labels.go", regexp.MustCompile(`LabelName:\s*"([^"]+)"`))
	wantSelector := map[string]string{clusterobjects.LabelManagedBy: clusterobjects.ManagedByValue, clusterobjects.LabelName: redisName}
	if fmt.Sprint(pm.Spec.Selector.MatchLabels) != fmt.Sprint(wantSelector) {
		t.Errorf("PodMonitor selects %v, the operator labels Redis pods %v", pm.Spec.Selector.MatchLabels, wantSelector)
	}
	portName := sourceString(t, "pkg/controller/objects/objects.go", regexp.MustCompile(`exporterPortName\s*=\s*"([^"]+)"`))
	if len(pm.Spec.Endpoints) != 1 || pm.Spec.Endpoints[0].Port != portName {
		t.Fatalf("PodMonitor endpoints %+v, want one on port %q (the exporter's container port)", pm.Spec.Endpoints, portName)
	}
	relabel := map[string]string{}
	for _, r := range pm.Spec.Endpoints[0].Relabelings {
		relabel[r.TargetLabel] = strings.Join(r.SourceLabels, ",")
	}
	if got, want := relabel["redis_cluster"], promLabel(clusterobjects.LabelInstance); got != want {
		t.Errorf("redis_cluster comes from %q, want %q (the pod label holding the RedisCluster name)", got, want)
	}
	if got, want := relabel["redis_node"], promLabel(clusterobjects.LabelNodeIndex); got != want {
		t.Errorf("redis_node comes from %q, want %q", got, want)
	}
}

// TestAlertsReachTheWebhook checks that the AlertmanagerConfig routes every autoscaling alert
// to the operator's Service, on the HTTP API's port and the webhook's path.
func TestAlertsReachTheWebhook(t *testing.T) {
	objs := render(t, renderOptions{apiVersions: []string{monitoringV1, monitoringV1alpha1}})
	var amc struct {
		Spec struct {
			Route struct {
				Receiver string `json:"receiver"`
				Matchers []struct {
					Name, MatchType, Value string
				} `json:"matchers"`
			} `json:"route"`
			Receivers []struct {
				Name           string `json:"name"`
				WebhookConfigs []struct {
					URL        string `json:"url"`
					HTTPConfig struct {
						Authorization struct {
							Type        string                   `json:"type"`
							Credentials corev1.SecretKeySelector `json:"credentials"`
						} `json:"authorization"`
					} `json:"httpConfig"`
				} `json:"webhookConfigs"`
			} `json:"receivers"`
		} `json:"spec"`
	}
	objs.one(t, "AlertmanagerConfig").decode(t, &amc)

	// Every alert the rules raise, with the labels they carry, passes the route's matchers.
	_, groups := renderRuleGroups(t, renderOptions{})
	for _, g := range groups {
		for _, r := range g.Rules {
			labels := map[string]string{"alertname": r.Alert, "redis_cluster": "rediscluster1", "namespace": "cache"}
			for k, v := range r.Labels {
				labels[k] = v
			}
			for _, m := range amc.Spec.Route.Matchers {
				var ok bool
				switch m.MatchType {
				case "=":
					ok = labels[m.Name] == m.Value
				case "=~":
					ok = regexp.MustCompile("^(?:" + m.Value + ")$").MatchString(labels[m.Name])
				default:
					t.Fatalf("unexpected matcher %+v", m)
				}
				if !ok {
					t.Errorf("alert %s %v does not pass matcher %+v", r.Alert, labels, m)
				}
			}
		}
	}

	if len(amc.Spec.Receivers) != 1 || amc.Spec.Receivers[0].Name != amc.Spec.Route.Receiver || len(amc.Spec.Receivers[0].WebhookConfigs) != 1 {
		t.Fatalf("want one webhook receiver used by the route, got %+v", amc.Spec.Receivers)
	}
	hook := amc.Spec.Receivers[0].WebhookConfigs[0]
	u, err := url.Parse(hook.URL)
	if err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	objs.one(t, "Service").decode(t, &svc)
	var httpPort int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			httpPort = p.Port
		}
	}
	if want := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, httpPort); u.Scheme != "http" || u.Host != want {
		t.Errorf("webhook URL %s does not reach Service port http (%s)", hook.URL, want)
	}
	route := sourceString(t, "pkg/httpapi/server.go", regexp.MustCompile(`s\.route\(mux, "(/webhooks/[^"]+)", http\.MethodPost`))
	if u.Path != route {
		t.Errorf("webhook URL path %s, the operator serves the webhook on %s", u.Path, route)
	}
	auth := hook.HTTPConfig.Authorization
	secret := objs.one(t, "Secret")
	if auth.Type != "Bearer" || auth.Credentials.Name != secret.Name || auth.Credentials.Key != "token" {
		t.Errorf("webhook authorization %+v, want Bearer with key token of Secret %s", auth, secret.Name)
	}
}
