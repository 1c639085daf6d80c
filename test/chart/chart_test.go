package chart

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// The objects every install renders; monitoring adds to them when the cluster serves its API.
var baseKinds = []string{
	"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Lease", "Role", "RoleBinding",
	"Secret", "Service", "ServiceAccount",
}

func TestLint(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults":        nil,
		"watchNamespace":  {"--set", "redisOperator.watchNamespace=cache"},
		"NodePort":        {"--set", "redisOperator.service.type=NodePort,redisOperator.service.nodePort=30090"},
		"existing secret": {"--set", "redisOperator.webhook.existingSecret=token,redisOperator.webhook.existingSecretKey=t"},
		"one replica":     {"--set", "redisOperator.replicaCount=1,redisOperator.leaderElection.enabled=false"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(append([]string{"lint", "--strict", chartDir}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint did not pass:\n%s", out)
			}
		})
	}
}

func TestKindsFollowMonitoringAPIs(t *testing.T) {
	for _, tc := range []struct {
		name        string
		apiVersions []string
		set         []string
		extra       []string
	}{
		{name: "no Prometheus Operator", extra: nil},
		{name: "monitoring v1 only", apiVersions: []string{monitoringV1},
			extra: []string{"PodMonitor", "PrometheusRule", "ServiceMonitor"}},
		{name: "monitoring v1alpha1 only", apiVersions: []string{monitoringV1alpha1},
			extra: []string{"AlertmanagerConfig"}},
		{name: "full Prometheus Operator", apiVersions: []string{monitoringV1, monitoringV1alpha1},
			extra: []string{"AlertmanagerConfig", "PodMonitor", "PrometheusRule", "ServiceMonitor"}},
		{name: "monitoring switched off", apiVersions: []string{monitoringV1, monitoringV1alpha1},
			set: []string{"redisOperator.metrics.serviceMonitor.enabled=false,redisOperator.metrics.podMonitor.enabled=false," +
				"redisOperator.metrics.prometheusRule.enabled=false,redisOperator.metrics.alertmanagerConfig.enabled=false"},
			extra: nil},
		{name: "only the PodMonitor off", apiVersions: []string{monitoringV1, monitoringV1alpha1},
			set:   []string{"redisOperator.metrics.podMonitor.enabled=false"},
			extra: []string{"AlertmanagerConfig", "PrometheusRule", "ServiceMonitor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, renderOptions{apiVersions: tc.apiVersions, set: tc.set}).kinds()
			want := sorted(append(append([]string(nil), baseKinds...), tc.extra...))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("kinds:\n got  %v\n want %v", got, want)
			}
		})
	}
	t.Run("no dashboard", func(t *testing.T) {
		objs := render(t, renderOptions{set: []string{"redisOperator.metrics.grafanaDashboard.enabled=false"}})
		if n := len(objs.ofKind("ConfigMap")); n != 0 {
			t.Fatalf("%d ConfigMaps with the dashboard switched off", n)
		}
	})
}

func TestEveryObjectInReleaseNamespace(t *testing.T) {
	objs := render(t, renderOptions{namespace: "ops", apiVersions: []string{monitoringV1, monitoringV1alpha1}})
	for _, o := range objs {
		switch o.Kind {
		case "ClusterRole", "ClusterRoleBinding":
			if o.Namespace != "" {
				t.Errorf("%s is cluster-scoped but has a namespace", o)
			}
		default:
			if o.Namespace != "ops" {
				t.Errorf("%s is not in the release namespace ops", o)
			}
		}
		if o.field(t, "metadata", "labels", "app.kubernetes.io/instance") != "rel" {
			t.Errorf("%s lacks label app.kubernetes.io/instance=rel", o)
		}
	}
}

func deployment(t *testing.T, objs objects) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	objs.one(t, "Deployment").decode(t, &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container, got %d", n)
	}
	return &d
}

// flagValue returns the value of --name=value among args, and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if a == "--"+name {
			return "", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestDeployment(t *testing.T) {
	objs := render(t, renderOptions{})
	d := deployment(t, objs)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	if _, ok := flagValue(c.Args, "leader-elect"); !ok {
		t.Errorf("no --leader-elect in %v", c.Args)
	}
	if ns, _ := flagValue(c.Args, "leader-election-namespace"); ns != "$(POD_NAMESPACE)" {
		t.Errorf("--leader-election-namespace = %q, want $(POD_NAMESPACE)", ns)
	}
	for name, field := range map[string]string{"POD_NAMESPACE": "metadata.namespace", "POD_IPS": "status.podIPs"} {
		found := false
		for _, e := range c.Env {
			if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == field {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not come from %s: %+v", name, field, c.Env)
		}
	}
	lease := objs.one(t, "Lease")
	if id, _ := flagValue(c.Args, "leader-election-id"); id != lease.Name {
		t.Errorf("--leader-election-id = %q, but the chart's Lease is %q", id, lease.Name)
	}
	if _, ok := flagValue(c.Args, "namespace"); ok {
		t.Errorf("--namespace set without watchNamespace: %v", c.Args)
	}

	// Hardening.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod does not set runAsNonRoot")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccomp profile is not RuntimeDefault")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container root filesystem is not read-only")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container allows privilege escalation")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Error("container does not drop ALL capabilities")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("container lacks cpu and memory requests: %v", c.Resources.Requests)
	}
	if first, _, found := strings.Cut(c.Image, "/"); found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		t.Errorf("image %q names a registry host", c.Image)
	}

	// Probes hit the metrics server, which serves /healthz and /readyz.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	metricsAddr, _ := flagValue(c.Args, "metrics-addr")
	httpAddr, _ := flagValue(c.Args, "http-addr")
	if metricsAddr != fmt.Sprintf(":%d", ports["metrics"]) || httpAddr != fmt.Sprintf(":%d", ports["http"]) {
		t.Errorf("--metrics-addr %q and --http-addr %q do not match container ports %v", metricsAddr, httpAddr, ports)
	}
	if ports["http"] != 9090 {
		t.Errorf("HTTP API port = %d, want 9090", ports["http"])
	}
	for name, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name || probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("probe %s: got %+v, want GET %s on port metrics", name, probe, name)
		}
	}

	// The webhook token file is the Secret's token.
	tokenFile, _ := flagValue(c.Args, "webhook-token-file")
	if !mountsSecretKey(pod, c, tokenFile, objs.one(t, "Secret").Name, "token") {
		t.Errorf("--webhook-token-file %q is not key token of the chart's Secret", tokenFile)
	}
}

// mountsSecretKey says whether file, in container c of pod, is key of Secret secret.
func mountsSecretKey(pod corev1.PodSpec, c corev1.Container, file, secret, key string) bool {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != secret {
				continue
			}
			for _, item := range v.Secret.Items {
				if item.Key == key && item.Path == rel {
					return true
				}
			}
		}
	}
	return false
}

func TestWatchNamespace(t *testing.T) {
	objs := render(t, renderOptions{set: []string{"redisOperator.watchNamespace=cache"}, apiVersions: []string{monitoringV1}})
	c := deployment(t, objs).Spec.Template.Spec.Containers[0]
	if ns, _ := flagValue(c.Args, "namespace"); ns != "cache" {
		t.Errorf("--namespace = %q, want cache", ns)
	}
	for _, o := range append(objs.ofKind("ClusterRole"), objs.ofKind("ClusterRoleBinding")...) {
		if !strings.HasSuffix(o.Name, "-nodes") {
			t.Errorf("cluster-wide %s with watchNamespace set", o)
		}
	}
	if got := sortedGrants(nodesGrants(t, objs)); !reflect.DeepEqual(got, []string{"nodes:list", "nodes:watch"}) {
		t.Errorf("the one cluster-wide role grants %v, want reading nodes only", got)
	}
	var namespaces []string
	for _, o := range append(objs.ofKind("Role"), objs.ofKind("RoleBinding")...) {
		namespaces = append(namespaces, o.Kind+"@"+o.Namespace)
	}
	want := []string{"Role@cache", "Role@ops", "RoleBinding@cache", "RoleBinding@ops"}
	if got := sorted(namespaces); !reflect.DeepEqual(got, want) {
		t.Errorf("Roles and RoleBindings: got %v, want %v (the cluster's namespace, and ops for the Lease)", got, want)
	}
	pm := objs.one(t, "PodMonitor")
	if got := fmt.Sprint(pm.field(t, "spec", "namespaceSelector")); got != "map[matchNames:[cache]]" {
		t.Errorf("PodMonitor namespaceSelector = %s, want matchNames [cache]", got)
	}
}

func TestService(t *testing.T) {
	for _, tc := range []struct {
		typ       string
		set       string
		nodePorts []int32 // http, metrics
	}{
		{typ: "ClusterIP", set: "redisOperator.service.nodePort=30090", nodePorts: []int32{0, 0}},
		{typ: "NodePort", set: "redisOperator.service.nodePort=30090", nodePorts: []int32{30090, 0}},
		{typ: "LoadBalancer", set: "redisOperator.service.nodePort=30090,redisOperator.service.metricsNodePort=30080", nodePorts: []int32{30090, 30080}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			objs := render(t, renderOptions{set: []string{"redisOperator.service.type=" + tc.typ, tc.set}})
			var svc corev1.Service
			objs.one(t, "Service").decode(t, &svc)
			if string(svc.Spec.Type) != tc.typ {
				t.Errorf("type = %s, want %s", svc.Spec.Type, tc.typ)
			}
			var got []string
			for _, p := range svc.Spec.Ports {
				got = append(got, fmt.Sprintf("%s:%d->%s:%d", p.Name, p.Port, p.TargetPort.String(), p.NodePort))
			}
			want := []string{
				fmt.Sprintf("http:9090->http:%d", tc.nodePorts[0]),
				fmt.Sprintf("metrics:8080->metrics:%d", tc.nodePorts[1]),
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ports: got %v, want %v", got, want)
			}
			d := deployment(t, objs)
			for k, v := range svc.Spec.Selector {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("Service selector %s=%s does not match the operator pods", k, v)
				}
			}
		})
	}
}

func TestWebhookToken(t *testing.T) {
	t.Run("generated", func(t *testing.T) {
		objs := render(t, renderOptions{})
		var secret corev1.Secret
		objs.one(t, "Secret").decode(t, &secret)
		token := secret.Data["token"]
		if len(token) < 32 {
			t.Fatalf("generated token is %d bytes, want at least 32", len(token))
		}
		// The pods restart when the token changes: the annotation is the hash of this token.
		sum := sha256.Sum256([]byte(base64.StdEncoding.EncodeToString(token)))
		if got := deployment(t, objs).Spec.Template.Annotations["checksum/webhook-token"]; got != hex.EncodeToString(sum[:]) {
			t.Errorf("checksum/webhook-token %q is not the hash of the Secret's token", got)
		}
		other := render(t, renderOptions{})
		var again corev1.Secret
		other.one(t, "Secret").decode(t, &again)
		if string(again.Data["token"]) == string(token) {
			t.Error("two installs without a cluster generated the same token")
		}
	})
	t.Run("existing", func(t *testing.T) {
		objs := render(t, renderOptions{
			set:         []string{"redisOperator.webhook.existingSecret=am-token,redisOperator.webhook.existingSecretKey=bearer"},
			apiVersions: []string{monitoringV1, monitoringV1alpha1},
		})
		if n := len(objs.ofKind("Secret")); n != 0 {
			t.Fatalf("%d Secrets rendered with an existing Secret", n)
		}
		d := deployment(t, objs)
		c := d.Spec.Template.Spec.Containers[0]
		tokenFile, _ := flagValue(c.Args, "webhook-token-file")
		if !mountsSecretKey(d.Spec.Template.Spec, c, tokenFile, "am-token", "bearer") {
			t.Errorf("--webhook-token-file %q is not key bearer of Secret am-token", tokenFile)
		}
		creds := objs.one(t, "AlertmanagerConfig").field(t, "spec", "receivers")
		if got := fmt.Sprint(creds); !strings.Contains(got, "credentials:map[key:bearer name:am-token]") {
			t.Errorf("AlertmanagerConfig does not send the token of am-token/bearer: %s", got)
		}
	})
	t.Run("unauthenticated only when asked", func(t *testing.T) {
		if args := deployment(t, render(t, renderOptions{})).Spec.Template.Spec.Containers[0].Args; slices.Contains(args, "--webhook-allow-unauthenticated") {
			t.Errorf("the default passes --webhook-allow-unauthenticated: %v", args)
		}
		objs := render(t, renderOptions{
			set:         []string{"redisOperator.webhook.allowUnauthenticated=true"},
			apiVersions: []string{monitoringV1, monitoringV1alpha1},
		})
		if n := len(objs.ofKind("Secret")); n != 0 {
			t.Errorf("%d token Secrets rendered for a webhook without a token", n)
		}
		spec := deployment(t, objs).Spec.Template.Spec
		args := spec.Containers[0].Args
		if _, ok := flagValue(args, "webhook-token-file"); ok || !slices.Contains(args, "--webhook-allow-unauthenticated") {
			t.Errorf("args %v: want --webhook-allow-unauthenticated and no --webhook-token-file (the operator refuses both)", args)
		}
		if len(spec.Volumes) != 0 {
			t.Errorf("volumes %v mounted for a webhook without a token", spec.Volumes)
		}
		if got := fmt.Sprint(objs.one(t, "AlertmanagerConfig").field(t, "spec", "receivers")); strings.Contains(got, "credentials") {
			t.Errorf("AlertmanagerConfig sends credentials that no Secret holds: %s", got)
		}
	})
}

// TestBuiltinObjectsDecodeStrictly decodes every rendered Kubernetes object into its Go type,
// refusing unknown fields, so a misspelt or misplaced field fails here rather than at install.
func TestBuiltinObjectsDecodeStrictly(t *testing.T) {
	types := map[string]func() any{
		"ServiceAccount":     func() any { return &corev1.ServiceAccount{} },
		"Secret":             func() any { return &corev1.Secret{} },
		"ConfigMap":          func() any { return &corev1.ConfigMap{} },
		"Service":            func() any { return &corev1.Service{} },
		"Deployment":         func() any { return &appsv1.Deployment{} },
		"ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
		"Role":               func() any { return &rbacv1.Role{} },
		"ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
		"RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
		"Lease":              func() any { return &coordinationv1.Lease{} },
	}
	for _, set := range []string{
		"redisOperator.service.type=ClusterIP",
		"redisOperator.watchNamespace=cache,redisOperator.service.type=LoadBalancer,redisOperator.service.nodePort=30090," +
			"redisOperator.service.loadBalancerSourceRanges={10.0.0.0/8},redisOperator.podAnnotations.a=b," +
			"redisOperator.nodeSelector.disk=ssd,redisOperator.imagePullSecrets[0].name=pull,redisOperator.extraArgs={--kube-api-qps=100}",
	} {
		for _, o := range render(t, renderOptions{set: []string{set}}) {
			newType, ok := types[o.Kind]
			if !ok {
				t.Errorf("%s: no Go type to check it with", o)
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(o.raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(newType()); err != nil {
				t.Errorf("%s (%s): %v", o, set, err)
			}
		}
	}
}
