package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/tlstest"
)

// A TLS cluster serves only TLS, on the same port numbers as a plain one: nothing reaches a node
// in the clear or with a certificate of another CA, redis-cli --tls checks it clean (in the
// invariants), its exporters scrape over TLS, and a scale-out moves keys over TLS under writers
// without losing an acknowledged write.
func TestATLSClusterScalesOutOverTLSUnderWriters(t *testing.T) {
	const keys = 200000
	node := tlstest.NewCA(t, "tls-e2e-ca").ValidNode(t)
	rc := f.ReadyCluster(t, "tls", framework.WithTLS(node))
	ns := rc.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// A client that trusts the nodes but presents a certificate of another CA.
	stranger := tlstest.NewCA(t, "stranger").ValidNode(t).ClientCredentials(t)
	stranger.Roots = node.ClientCredentials(t).Roots
	for _, addr := range framework.NodeAddrs(rc) {
		for what, config := range map[string]*tls.Config{
			"in the clear":                  nil,
			"with another CA's certificate": redisops.TLSConfig(func() *redisops.TLSCredentials { return stranger }),
		} {
			c := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: config, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
			require.Error(t, c.Ping(ctx).Err(), "%s reached %s", what, addr)
			_ = c.Close()
		}
	}
	files := framework.TLSFiles(rc)
	out, err := exec.CommandContext(ctx, "redis-cli", "--tls", "--cacert", files.CAFile, "--cert", files.CertFile,
		"--key", files.KeyFile, "--cluster", "check", framework.NodeAddrs(rc)[0]).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "[OK] All 16384 slots covered.")
	framework.WaitFor(t, time.Minute, "every exporter to scrape its node over TLS", func() (bool, error) {
		err := framework.ExportersScrape(ctx, rc)
		return err == nil, err
	})

	client := framework.ClusterClient(t, rc)
	framework.WriteKeys(t, client, "tls", keys)
	w := framework.StartWriters(client, 8, 200000)
	patchMasters(t, ns, "tls", "5")
	framework.WaitFor(t, 2*time.Minute, "slots to be moving", func() (bool, error) {
		cur := f.Cluster(t, ns, "tls")
		return cur.Status.Migration != nil || cur.Status.ReadyMasters == 5, nil
	})
	rc = f.WaitReady(t, ns, "tls", 5*time.Minute)
	w.Halt()
	require.EqualValues(t, 5, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	client = framework.ClusterClient(t, rc)
	framework.CheckKeys(t, client, "tls", keys)
	w.CheckAcked(t, client)
	t.Logf("moved %d slots over TLS; %d writes acknowledged meanwhile, %d refused, longest gap %s",
		rc.Status.LastMigration.SlotsDone, w.Acked(), w.Fails(), w.LongestGap())
	require.True(t, strings.HasPrefix(rc.Status.LastMigration.Step, "moved"), rc.Status.LastMigration.Step)
}

// A renewed certificate of the same CA reaches every node live under writers: each node loads
// the files of its Secret's volume once they changed, with no restart (run_id kept), every
// acknowledged write kept and no new connection refused meanwhile.
func TestARenewedCertificateIsServedWithoutARestart(t *testing.T) {
	ca := tlstest.NewCA(t, "tls-rotation-ca")
	first := ca.ValidNode(t)
	rc := f.ReadyCluster(t, "tls-renew", framework.WithTLS(first))
	ns := rc.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	serialOf := func(c tlstest.Credentials) string { return c.ClientCredentials(t).Leaf.SerialNumber.Text(16) }
	servedEverywhere := func(serial string) func() (bool, error) {
		return func() (bool, error) {
			cur := f.Cluster(t, ns, "tls-renew")
			for _, n := range cur.Status.Nodes {
				if n.Certificate == nil || n.Certificate.Serial != serial {
					return false, fmt.Errorf("%s serves %v", n.Pod, n.Certificate)
				}
			}
			return len(cur.Status.Nodes) == 6, nil
		}
	}
	framework.WaitFor(t, time.Minute, "the status to name every node's certificate", servedEverywhere(serialOf(first)))
	admin := framework.AdminOf(rc, "")
	defer admin.Close()
	runIDs := runIDsOf(t, ctx, rc)

	client := framework.ClusterClient(t, rc)
	w := framework.StartWriters(client, 8, 100000)
	dials := startDialing(framework.NodeAddrs(rc), framework.TLSConfig(rc))
	renewed := ca.ValidNode(t)
	start := time.Now()
	f.RenewTLSSecret(t, rc, renewed)
	framework.WaitFor(t, 2*time.Minute, "every node to serve the renewed certificate", servedEverywhere(serialOf(renewed)))
	took := time.Since(start)
	dialed, refused := dials.stop()
	w.Halt()

	for addr, id := range runIDs {
		info, err := admin.Client(addr).Info(ctx, "server").Result()
		require.NoError(t, err)
		require.Equal(t, id, runIDOf(info), "%s restarted", addr)
		served, err := admin.ServedCertificate(ctx, addr)
		require.NoError(t, err)
		require.Equal(t, serialOf(renewed), served.SerialNumber.Text(16), addr)
	}
	require.Empty(t, refused, "new connections refused during the rotation")
	events, err := f.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=ReloadedCertificate"})
	require.NoError(t, err)
	for _, e := range events.Items {
		t.Logf("%s after %s: %s", e.Reason, e.FirstTimestamp.Sub(start).Round(10*time.Millisecond), e.Message)
	}
	require.Len(t, events.Items, 6, "an Event for every node")
	w.CheckAcked(t, framework.ClusterClient(t, rc))
	f.CheckInvariants(t, f.Cluster(t, ns, "tls-renew"))
	t.Logf("every node served the renewed certificate %s after %s; %d new connections, none refused; %d writes acknowledged, longest gap %s",
		serialOf(renewed), took.Round(10*time.Millisecond), dialed, w.Acked(), w.LongestGap())
}

// runIDsOf is the run_id of every node of rc, by address: a node that restarts gets another.
func runIDsOf(t *testing.T, ctx context.Context, rc *redisv1beta1.RedisCluster) map[string]string {
	admin := framework.AdminOf(rc, "")
	defer admin.Close()
	out := map[string]string{}
	for _, addr := range framework.NodeAddrs(rc) {
		info, err := admin.Client(addr).Info(ctx, "server").Result()
		require.NoError(t, err)
		out[addr] = runIDOf(info)
	}
	return out
}

func runIDOf(info string) string {
	_, after, _ := strings.Cut(info, "run_id:")
	id, _, _ := strings.Cut(after, "\r\n")
	return id
}

// dialing opens a new TLS connection to one of its nodes after another, in turn, and PINGs:
// what a client that connects during a change meets. At most 3,000 connections, 5 minutes.
type dialing struct {
	done    chan struct{}
	wg      sync.WaitGroup
	dialed  int
	refused []string
}

func startDialing(addrs []string, config *tls.Config) *dialing {
	d := &dialing{done: make(chan struct{})}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		deadline := time.Now().Add(5 * time.Minute)
		for i := 0; i < 3000 && time.Now().Before(deadline); i++ {
			select {
			case <-d.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c := redis.NewClient(&redis.Options{Addr: addrs[i%len(addrs)], TLSConfig: config, MaxRetries: -1,
				DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
			if err := c.Ping(context.Background()).Err(); err != nil {
				d.refused = append(d.refused, fmt.Sprintf("%s: %v", addrs[i%len(addrs)], err))
			}
			d.dialed++
			_ = c.Close()
		}
	}()
	return d
}

// stop ends the dialing and returns how many connections it opened and the refusals.
func (d *dialing) stop() (int, []string) {
	close(d.done)
	d.wg.Wait()
	return d.dialed, d.refused
}

// Certificates nodes could not load, an expired one and one whose key does not match, and one
// of a CA the nodes do not trust yet, are refused before any node loads them: every node keeps serving its certificate, the cluster
// keeps serving, Degraded says why; a good one then goes everywhere.
func TestAnUnusableCertificateIsRefusedBeforeAnyNodeLoadsIt(t *testing.T) {
	ca := tlstest.NewCA(t, "tls-refusal-ca")
	first := ca.ValidNode(t)
	rc := f.ReadyCluster(t, "tls-refuse", framework.WithTLS(first))
	ns := rc.Namespace
	serial := first.ClientCredentials(t).Leaf.SerialNumber.Text(16)
	client := framework.ClusterClient(t, rc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	expired := ca.Node(t, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	mismatched := tlstest.Credentials{Cert: ca.ValidNode(t).Cert, Key: first.Key, CA: first.CA}
	other := tlstest.NewCA(t, "another-ca").ValidNode(t)
	unsigned := tlstest.Credentials{Cert: other.Cert, Key: other.Key, CA: first.CA} // ca.crt did not sign tls.crt
	// The unsigned one last: the files of a refused Secret must never reach a node, even when the
	// next, good Secret makes the operator reload the nodes before the kubelet swapped the files.
	for _, bad := range []struct {
		name, says string
		creds      tlstest.Credentials
	}{{"expired", "not now", expired}, {"mismatched", "does not match", mismatched}, {"unsigned", "tls.crt against ca.crt", unsigned}} {
		name, says := bad.name, bad.says
		f.RenewTLSSecret(t, rc, bad.creds)
		framework.WaitFor(t, time.Minute, "Degraded to say the "+name+" certificate is refused", func() (bool, error) {
			c := meta.FindStatusCondition(f.Cluster(t, ns, "tls-refuse").Status.Conditions, redisv1beta1.ConditionDegraded)
			return c != nil && c.Reason == "TLSSecretRefused" && strings.Contains(c.Message, says), fmt.Errorf("Degraded: %v", c)
		})
		// The nodes' files come from the operator's copy, which still holds the first certificate.
		loaded, err := f.Kube.CoreV1().Secrets(ns).Get(ctx, "tls-refuse-node-certificate", metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, string(first.Cert), string(loaded.Data["tls.crt"]), "the %s certificate reached the nodes' files", name)
		admin := framework.AdminOf(rc, "")
		for _, addr := range framework.NodeAddrs(rc) {
			served, err := admin.ServedCertificate(ctx, addr)
			require.NoError(t, err, "%s with the %s certificate in the Secret", addr, name)
			require.Equal(t, serial, served.SerialNumber.Text(16), "%s loaded the %s certificate", addr, name)
		}
		admin.Close()
		require.NoError(t, client.Set(ctx, "still-serving-"+name, "yes", 0).Err())
	}
	// A node that starts anew meanwhile loads the last certificate that passed, not the Secret's.
	rc = f.Cluster(t, ns, "tls-refuse")
	replica := ""
	for _, n := range rc.Status.Nodes {
		if n.Role == redisv1beta1.RoleReplica {
			replica = n.Pod
		}
	}
	deletePod(t, ns, replica)
	rc = f.WaitWhole(t, ns, "tls-refuse", 2*time.Minute)
	admin := framework.AdminOf(rc, "")
	for _, addr := range framework.NodeAddrs(rc) {
		served, err := admin.ServedCertificate(ctx, addr)
		require.NoError(t, err, addr)
		require.Equal(t, serial, served.SerialNumber.Text(16), "%s after pod %s was re-created", addr, replica)
	}
	admin.Close()

	events, err := f.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=TLSSecretRefused"})
	require.NoError(t, err)
	require.NotEmpty(t, events.Items)
	t.Logf("%s", events.Items[len(events.Items)-1].Message)

	good := ca.ValidNode(t)
	f.RenewTLSSecret(t, rc, good)
	goodSerial := good.ClientCredentials(t).Leaf.SerialNumber.Text(16)
	framework.WaitFor(t, time.Minute, "the good certificate "+goodSerial+" everywhere, Degraded cleared", func() (bool, error) {
		cur := f.Cluster(t, ns, "tls-refuse")
		degraded := meta.FindStatusCondition(cur.Status.Conditions, redisv1beta1.ConditionDegraded)
		for _, n := range cur.Status.Nodes {
			if n.Certificate == nil || n.Certificate.Serial != goodSerial {
				return false, fmt.Errorf("%s serves %v; Degraded: %s", n.Pod, n.Certificate, degraded.Message)
			}
		}
		return degraded.Status == metav1.ConditionFalse, fmt.Errorf("Degraded: %s", degraded.Message)
	})
	f.CheckInvariants(t, f.Cluster(t, ns, "tls-refuse"))
}

// A drain of a TLS cluster's node under writers: masters hand over before their pods go, as on
// a plain cluster.
func TestDrainOverTLS(t *testing.T) {
	rc := f.ReadyCluster(t, "drained-tls", framework.WithTLS(tlstest.NewCA(t, "drain-ca").ValidNode(t)))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
	framework.WaitFor(t, time.Minute, "shards spread over the nodes, the masters' budget counting them", func() (bool, error) {
		b, err := f.Kube.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), "drained-tls-masters", metav1.GetOptions{})
		return err == nil && spread(layout(t, ns, "drained-tls")) && b.Status.ObservedGeneration == b.Generation &&
			b.Status.CurrentHealthy == 3 && b.Status.DisruptionsAllowed == 0, err
	})
	drainUnderWriters(t, rc, "kept", 20000)
	framework.WaitFor(t, 3*time.Minute, "the shards to spread over the uncordoned node again", func() (bool, error) {
		l := layout(t, ns, "drained-tls")
		return len(l) == 3 && spread(l), nil
	})
	rc = f.WaitReady(t, ns, "drained-tls", 2*time.Minute)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 20000)
}
