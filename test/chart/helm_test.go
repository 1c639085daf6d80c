// Package chart tests the Helm charts in charts/ with the real helm and promtool binaries that
// hack/chart-tools.sh builds into bin/tools: lint, rendering with and without the Prometheus
// Operator APIs, RBAC, the values schema, and the autoscaling alert rules (promtool test rules).
// Nothing here needs a Kubernetes cluster.
package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// Paths set by TestMain.
var (
	root        string // repository root
	chartDir    string // charts/redis-operator
	stackDir    string // charts/redis-operator-stack
	helmBin     string
	promtoolBin string
	helmHome    string // HELM_*_HOME of every helm run, so no user config leaks in
)

// The Prometheus Operator API versions, as --api-versions of helm template.
const (
	monitoringV1       = "monitoring.coreos.com/v1"
	monitoringV1alpha1 = "monitoring.coreos.com/v1alpha1"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	if root, err = repoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	chartDir = filepath.Join(root, "charts", "redis-operator")
	stackDir = filepath.Join(root, "charts", "redis-operator-stack")
	helmBin = filepath.Join(root, "bin", "tools", "helm")
	promtoolBin = filepath.Join(root, "bin", "tools", "promtool")
	// The script is a no-op when the binaries match their pins, and builds them otherwise.
	build := exec.Command(filepath.Join(root, "hack", "chart-tools.sh"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "hack/chart-tools.sh (builds helm and promtool into bin/tools): %v\n", err)
		return 1
	}
	if helmHome, err = os.MkdirTemp("", "chart-test-helm-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(helmHome)
	return m.Run()
}

// repoRoot is the folder above the working folder holding go.mod and hack/chart-tools.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "chart-tools.sh")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod and hack/chart-tools.sh) not found above the working folder")
		}
		dir = parent
	}
}

// helm runs bin/tools/helm and returns its standard output, and an error carrying standard
// error when it fails.
func helm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
		"KUBECONFIG="+filepath.Join(helmHome, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// renderOptions are the inputs of one helm template run.
type renderOptions struct {
	chart       string   // chart folder; charts/redis-operator when empty
	namespace   string   // release namespace; "ops" when empty
	values      string   // a values file's content, if any
	set         []string // --set arguments
	apiVersions []string // --api-versions arguments
	showOnly    []string // --show-only arguments
}

// templateArgs are the helm arguments of o, writing the values file into dir.
func (o renderOptions) templateArgs(dir string) ([]string, error) {
	chart, ns := o.chart, o.namespace
	if chart == "" {
		chart = chartDir
	}
	if ns == "" {
		ns = "ops"
	}
	args := []string{"template", "rel", chart, "--namespace", ns}
	if o.values != "" {
		path := filepath.Join(dir, "values.yaml")
		if err := os.WriteFile(path, []byte(o.values), 0o644); err != nil {
			return nil, err
		}
		args = append(args, "--values", path)
	}
	for _, s := range o.set {
		args = append(args, "--set", s)
	}
	for _, v := range o.apiVersions {
		args = append(args, "--api-versions", v)
	}
	for _, s := range o.showOnly {
		args = append(args, "--show-only", s)
	}
	return args, nil
}

// renderErr runs helm template and returns its objects, or helm's error.
func renderErr(t *testing.T, o renderOptions) (objects, error) {
	t.Helper()
	args, err := o.templateArgs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := helm(args...)
	if err != nil {
		return nil, err
	}
	objs, err := parseObjects(out)
	if err != nil {
		t.Fatalf("helm template output is not YAML objects: %v\n%s", err, out)
	}
	return objs, nil
}

// render runs helm template and fails the test when it fails.
func render(t *testing.T, o renderOptions) objects {
	t.Helper()
	objs, err := renderErr(t, o)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// object is one rendered manifest, kept as JSON so it can be decoded into typed structs.
type object struct {
	Kind, Name, Namespace string
	raw                   json.RawMessage
}

func (o object) String() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// decode unmarshals the object into v (a typed Kubernetes object or a map).
func (o object) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("decoding %s: %v", o, err)
	}
}

// field returns the value at a path of map keys, or nil.
func (o object) field(t *testing.T, path ...string) any {
	t.Helper()
	var v any
	o.decode(t, &v)
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

type objects []object

// parseObjects splits helm's multi-document output into objects, skipping empty documents.
func parseObjects(out string) (objects, error) {
	reader := yaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var objs objects
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		raw, err := yaml.ToJSON(doc)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(raw)); s == "null" || s == "" {
			continue
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, err
		}
		if meta.Kind == "" {
			return nil, fmt.Errorf("a document has no kind:\n%s", doc)
		}
		objs = append(objs, object{Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, raw: raw})
	}
}

// kinds are the sorted kinds of the objects, one entry per object.
func (objs objects) kinds() []string {
	kinds := make([]string, 0, len(objs))
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	sort.Strings(kinds)
	return kinds
}

// ofKind returns the objects of one kind.
func (objs objects) ofKind(kind string) objects {
	var found objects
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	return found
}

// one returns the single object of a kind, failing the test when there is not exactly one.
func (objs objects) one(t *testing.T, kind string) object {
	t.Helper()
	found := objs.ofKind(kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, got %d: %v", kind, len(found), found)
	}
	return found[0]
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
