// Package framework gives end-to-end tests a sandbox, clients, the operator and helpers to wait
// for conditions.
package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	clientset "redis-operator/pkg/generated/clientset/versioned"
	"redis-operator/test/sandbox"
)

// Framework is the sandbox the tests of one package share.
type Framework struct {
	Root       string // the repository
	Kubeconfig string
	Config     *rest.Config
	Kube       kubernetes.Interface
	Redis      clientset.Interface
	sandbox    *sandbox.Sandbox // nil when an already running sandbox is reused
}

// lockPath serializes e2e runs on one machine: sandboxes listen on fixed ports, and two
// operators of two runs would both act on every cluster.
var lockPath = filepath.Join(os.TempDir(), "redis-operator-e2e.lock")

// Main runs a test package against a sandbox: it reuses one started by `make sandbox-up`, or
// starts its own and stops it after the tests. A run waits for any other e2e run on the machine.
func Main(m *testing.M, f **Framework) {
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup: locking", lockPath+":", err)
		os.Exit(1)
	}
	fw, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	*f = fw
	code := m.Run()
	if fw.sandbox != nil {
		fw.sandbox.Stop()
	}
	_ = lock.Close() // releases the lock
	os.Exit(code)
}

func setup() (*Framework, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	fw := &Framework{Root: root, Kubeconfig: filepath.Join(root, ".sandbox", "kubeconfig")}
	if !running(fw.Kubeconfig) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		s, err := sandbox.Start(ctx, sandbox.Options{
			Dir: filepath.Join(root, ".sandbox"), BinDir: filepath.Join(root, "bin", "k8s"), Nodes: 3,
		})
		if err != nil {
			return nil, fmt.Errorf("starting the sandbox (run hack/sandbox-binaries.sh if binaries are missing): %w", err)
		}
		fw.sandbox = s
	}
	if fw.Config, err = clientcmd.BuildConfigFromFlags("", fw.Kubeconfig); err != nil {
		return nil, err
	}
	fw.Config.QPS, fw.Config.Burst = 100, 200
	if fw.Kube, err = kubernetes.NewForConfig(fw.Config); err != nil {
		return nil, err
	}
	if fw.Redis, err = clientset.NewForConfig(fw.Config); err != nil {
		return nil, err
	}
	return fw, nil
}

// running reports whether a sandbox answers with the kubeconfig.
func running(kubeconfig string) bool {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return false
	}
	cfg.Timeout = 2 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false
	}
	_, err = client.Discovery().ServerVersion()
	return err == nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "hack", "tools")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repository root not found above the working folder")
		}
		dir = parent
	}
}

// Kubectl runs the sandbox's kubectl and returns its combined output.
func (f *Framework) Kubectl(ctx context.Context, args ...string) (string, error) {
	return f.kubectl(ctx, "", args...)
}

// KubectlApply applies manifest from standard input, as a user piping a file would.
func (f *Framework) KubectlApply(ctx context.Context, manifest string) (string, error) {
	return f.kubectl(ctx, manifest, "apply", "-f", "-")
}

func (f *Framework) kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(f.Root, "bin", "k8s", "kubectl"), append([]string{"--kubeconfig", f.Kubeconfig}, args...)...)
	cmd.Dir = f.Root
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// InstallCRD applies the chart's CRD as a user would and waits until it is served.
func (f *Framework) InstallCRD(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := f.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", "charts/redis-operator/crds/"); err != nil {
		t.Fatalf("applying the CRD: %v\n%s", err, out)
	}
	f.WaitCRDEstablished(t)
}

// WaitCRDEstablished waits until the API server serves the CRD. Not with kubectl wait: that
// fails at once on a CRD just created, whose status has no conditions yet.
func (f *Framework) WaitCRDEstablished(t testing.TB) {
	t.Helper()
	WaitFor(t, time.Minute, "the CRD to be Established", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := f.Kubectl(ctx, "get", "crd/redisclusters.redis.redis",
			"-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		if err != nil {
			return false, fmt.Errorf("%v: %s", err, out)
		}
		return out == "True", fmt.Errorf("Established=%q", out)
	})
}

// Namespace creates a namespace for one test and deletes it when the test ends.
func (f *Framework) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns, err := f.Kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.Kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// WaitFor polls cond every 100ms until it is true, failing the test after timeout with what and
// cond's last error.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := Poll(timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

// Poll is WaitFor returning the timeout as an error, for callers that gather more before failing.
// An error from cond does not end the wait: it is what the timeout reports.
func Poll(timeout time.Duration, what string, cond func() (bool, error)) error {
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, timeout, true,
		func(context.Context) (bool, error) {
			ok, err := cond()
			if !ok {
				lastErr = err
			}
			return ok, nil
		})
	if err != nil {
		return fmt.Errorf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
	}
	return nil
}

// pollInterval is how often WaitFor and Poll ask.
const pollInterval = 100 * time.Millisecond
