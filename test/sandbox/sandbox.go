// Package sandbox runs a real Kubernetes control plane on loopback whose pods run as local
// processes: etcd, kube-apiserver, kube-controller-manager and kube-scheduler built by
// hack/sandbox-binaries.sh, plus one host-process node agent per node, and an S3 server (s3.go).
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options configure a sandbox.
type Options struct {
	// Dir holds all state, logs and pids; it is wiped at start.
	Dir string
	// BinDir holds etcd and the Kubernetes binaries.
	BinDir string
	// Nodes is the number of nodes; node i has address 127.0.0.(11+i) and gives the pods that
	// are not on the host network addresses in 127.0.(11+i).0/24.
	Nodes int
	// ImageDir holds the OCI image archives (*.oci.tar) image containers run from (see
	// images.go); BinDir's parent when empty: the repository's bin/, where `make image` writes.
	ImageDir string
	// ToolsDir holds versitygw; tools/ next to BinDir when empty: the repository's bin/tools,
	// where hack/test-tools.sh builds.
	ToolsDir string
}

// Sandbox is a running control plane with its node agents.
type Sandbox struct {
	dir, binDir  string
	toolsDir     string
	images       *imageStore
	nodes        []nodeInfo
	controlPlane []*process
	s3           *process
	cancel       context.CancelFunc
	agents       sync.WaitGroup
	client       kubernetes.Interface
}

// nodeInfo names a sandbox node, the loopback address its host-network pods listen on and the
// first three octets of its other pods' addresses.
type nodeInfo struct {
	name, address, podPrefix string
}

// NodeName is the name of sandbox node i (0-based).
func NodeName(i int) string { return fmt.Sprintf("sandbox-node-%d", i+1) }

// NodeAddress is the loopback address of sandbox node i (0-based).
func NodeAddress(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// podPrefix is the first three octets of the addresses of node i's pods that are not on the
// host network.
func podPrefix(i int) string { return fmt.Sprintf("127.0.%d", 11+i) }

// Start wipes opts.Dir, starts the control plane and the node agents, and returns once every
// node is Ready.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.Nodes < 1 || opts.Nodes > 100 {
		return nil, fmt.Errorf("nodes must be 1 to 100, not %d", opts.Nodes)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	binDir, err := filepath.Abs(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if err := reset(dir); err != nil {
		return nil, err
	}
	imageDir := opts.ImageDir
	if imageDir == "" {
		imageDir = filepath.Dir(binDir)
	}
	if imageDir, err = filepath.Abs(imageDir); err != nil {
		return nil, err
	}
	toolsDir := opts.ToolsDir
	if toolsDir == "" {
		toolsDir = filepath.Join(filepath.Dir(binDir), "tools")
	}
	if toolsDir, err = filepath.Abs(toolsDir); err != nil {
		return nil, err
	}
	s := &Sandbox{dir: dir, binDir: binDir, toolsDir: toolsDir, images: newImageStore(imageDir)}
	for i := 0; i < opts.Nodes; i++ {
		s.nodes = append(s.nodes, nodeInfo{name: NodeName(i), address: NodeAddress(i), podPrefix: podPrefix(i)})
	}
	s3Ready, err := s.startS3(ctx)
	if err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.startControlPlane(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	cfg, err := s.RESTConfig()
	if err != nil {
		s.Stop()
		return nil, err
	}
	if s.client, err = kubernetes.NewForConfig(cfg); err != nil {
		s.Stop()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.startNodes(ctx, runCtx); err != nil {
		s.Stop()
		return nil, err
	}
	if err := <-s3Ready; err != nil {
		s.Stop()
		return nil, fmt.Errorf("S3 server: %w", err)
	}
	return s, nil
}

// reset kills whatever a previous sandbox in dir left running and wipes its state.
func reset(dir string) error {
	if _, err := KillLeftovers(dir); err != nil {
		return err
	}
	for _, sub := range []string{"etcd", "pods", "volumes", "pids", "logs", "s3", S3SettingsFile} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	for _, sub := range []string{"pods", "volumes", "pids", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Kubeconfig is the path of the admin kubeconfig.
func (s *Sandbox) Kubeconfig() string { return filepath.Join(s.dir, kubeconfigFile) }

// RESTConfig is an admin client configuration.
func (s *Sandbox) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// NodeAddresses are the nodes' loopback addresses.
func (s *Sandbox) NodeAddresses() []string {
	out := make([]string, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = n.address
	}
	return out
}

// Stop stops the node agents (and with them every pod process), then the control plane and the
// S3 server.
func (s *Sandbox) Stop() {
	if s.cancel != nil {
		s.cancel()
		s.agents.Wait()
	}
	for i := len(s.controlPlane) - 1; i >= 0; i-- {
		s.controlPlane[i].stop(processStopWait)
	}
	if s.s3 != nil {
		s.s3.stop(processStopWait)
	}
	_, _ = KillLeftovers(s.dir)
}

// Failed returns an error when a control plane process or the S3 server has exited.
func (s *Sandbox) Failed() error {
	for _, p := range s.controlPlane {
		if p.exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
	}
	if s.s3 != nil && s.s3.exited() {
		return fmt.Errorf("%s exited: %v (see logs/versitygw.log)", s.s3.name, s.s3.err)
	}
	return nil
}

// waitNodesReady waits until the API server lists every node as Ready and pods can be admitted.
func (s *Sandbox) waitNodesReady(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := s.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range list.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					ready++
				}
			}
		}
		// Pods are admitted only once the controller manager made the default service account.
		_, saErr := s.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return ready == len(s.nodes) && saErr == nil, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return errors.New("nodes or the default service account not ready within 60s")
	}
}
