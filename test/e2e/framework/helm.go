package framework

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var helmToolsOnce sync.Once
var helmToolsErr error

// Helm runs bin/tools/helm against the sandbox, building it first when hack/chart-tools.sh says
// it is missing or stale, and returns its standard output; the error carries standard error.
func (f *Framework) Helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	helmToolsOnce.Do(func() {
		cmd := exec.Command(filepath.Join(f.Root, "hack", "chart-tools.sh"))
		cmd.Dir = f.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			helmToolsErr = fmt.Errorf("hack/chart-tools.sh: %v\n%s", err, out)
		}
	})
	if helmToolsErr != nil {
		t.Fatal(helmToolsErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(f.Root, "bin", "tools", "helm"), append([]string{"--kubeconfig", f.Kubeconfig}, args...)...)
	cmd.Dir = f.Root
	// Helm's own homes live in the test's temporary folder, so no user configuration leaks in.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// KubectlStdin runs the sandbox's kubectl with stdin as its standard input, such as
// `get -f -` on a release's manifest.
func (f *Framework) KubectlStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	return f.kubectl(ctx, stdin, args...)
}

// ServiceAccountKubeconfig writes a kubeconfig for the sandbox's API server that authenticates
// with a token of ServiceAccount namespace/name (kubectl create token), and returns its path.
func (f *Framework) ServiceAccountKubeconfig(t testing.TB, namespace, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := f.Kubectl(ctx, "create", "token", name, "-n", namespace, "--duration=1h")
	if err != nil {
		t.Fatalf("kubectl create token %s -n %s: %v\n%s", name, namespace, err, token)
	}
	admin, err := clientcmd.LoadFromFile(f.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur, ok := admin.Contexts[admin.CurrentContext]
	if !ok || admin.Clusters[cur.Cluster] == nil {
		t.Fatalf("%s has no current context with a cluster", f.Kubeconfig)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = admin.Clusters[cur.Cluster]
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = name
	path := filepath.Join(t.TempDir(), "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// StartOperatorAs is StartOperator with another kubeconfig, such as one of
// ServiceAccountKubeconfig, so the operator has only that identity's rights. It installs no CRD:
// the chart's install does.
func (f *Framework) StartOperatorAs(t testing.TB, kubeconfig string, args ...string) *Operator {
	t.Helper()
	g := *f
	g.Kubeconfig = kubeconfig
	return g.runOperator(t, args...)
}
