package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Loopback endpoints of the control plane.
const (
	apiServerPort   = 16443
	etcdClientPort  = 16379
	etcdPeerPort    = 16380
	controllerPort  = 16444
	schedulerPort   = 16445
	serviceIP       = "10.96.0.1"
	serviceCIDR     = "10.96.0.0/16"
	kubeconfigFile  = "kubeconfig"
	apiServerReady  = 90 * time.Second
	processStopWait = 10 * time.Second
)

// APIServerURL is where the sandbox's API server listens.
var APIServerURL = "https://127.0.0.1:" + strconv.Itoa(apiServerPort)

// startControlPlane starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler, and
// returns once the API server reports ready.
func (s *Sandbox) startControlPlane(ctx context.Context) error {
	p := pki{dir: filepath.Join(s.dir, "pki")}
	if err := p.ensure(); err != nil {
		return fmt.Errorf("creating certificates: %w", err)
	}
	if err := s.writeKubeconfig(p); err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(s.binDir, name) }
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(bin(name)); err != nil {
			return fmt.Errorf("%s is missing from %s: run hack/sandbox-binaries.sh", name, s.binDir)
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	components := []struct {
		name string
		argv []string
	}{
		{"etcd", []string{bin("etcd"),
			"--name=sandbox", "--data-dir=" + filepath.Join(s.dir, "etcd"),
			"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=sandbox=" + peerURL, "--unsafe-no-fsync", "--log-level=warn",
		}},
		{"kube-apiserver", []string{bin("kube-apiserver"),
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(apiServerPort),
			"--tls-cert-file=" + p.path(serverCert), "--tls-private-key-file=" + p.path(serverKey),
			"--client-ca-file=" + p.path(caCert),
			"--service-account-key-file=" + p.path(serviceAccountP),
			"--service-account-signing-key-file=" + p.path(serviceAccountK),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=" + serviceCIDR,
			"--authorization-mode=Node,RBAC",
			// The advertise address is loopback, which the endpoint reconciler refuses.
			"--endpoint-reconciler-type=none",
			"--allow-privileged=true",
			"--profiling=false",
		}},
		{"kube-controller-manager", []string{bin("kube-controller-manager"),
			"--kubeconfig=" + s.Kubeconfig(),
			"--authentication-kubeconfig=" + s.Kubeconfig(), "--authorization-kubeconfig=" + s.Kubeconfig(),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(controllerPort),
			"--service-account-private-key-file=" + p.path(serviceAccountK),
			"--root-ca-file=" + p.path(caCert),
			"--cluster-signing-cert-file=" + p.path(caCert), "--cluster-signing-key-file=" + p.path(caKey),
			"--use-service-account-credentials=true",
			"--leader-elect=false",
			"--controllers=*",
			"--concurrent-gc-syncs=5",
		}},
		{"kube-scheduler", []string{bin("kube-scheduler"),
			"--kubeconfig=" + s.Kubeconfig(),
			"--authentication-kubeconfig=" + s.Kubeconfig(), "--authorization-kubeconfig=" + s.Kubeconfig(),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(schedulerPort),
			"--leader-elect=false",
		}},
	}
	for _, c := range components {
		proc, err := startProcess(c.name, c.argv, os.Environ(), s.dir,
			filepath.Join(s.dir, "logs", c.name+".log"), filepath.Join(s.dir, "pids", c.name+".pid"))
		if err != nil {
			return err
		}
		s.controlPlane = append(s.controlPlane, proc)
		if c.name == "kube-apiserver" {
			if err := waitForAPIServer(ctx, p, proc); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitForAPIServer polls /readyz until the API server answers ok.
func waitForAPIServer(ctx context.Context, p pki, proc *process) error {
	caPEM, err := os.ReadFile(p.path(caCert))
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(p.path(adminCert), p.path(adminKey))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, apiServerReady, true, func(context.Context) (bool, error) {
		if proc.exited() {
			return false, fmt.Errorf("kube-apiserver exited: %v (see logs/kube-apiserver.log)", proc.err)
		}
		resp, err := client.Get(APIServerURL + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case wait.Interrupted(err):
		return fmt.Errorf("kube-apiserver not ready after %s", apiServerReady)
	default:
		return err // it exited
	}
}

// writeKubeconfig writes the admin kubeconfig every component and test uses.
func (s *Sandbox) writeKubeconfig(p pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: APIServerURL, CertificateAuthority: p.path(caCert)}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: p.path(adminCert), ClientKey: p.path(adminKey)}
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "admin"}
	cfg.CurrentContext = "sandbox"
	return clientcmd.WriteToFile(*cfg, s.Kubeconfig())
}
