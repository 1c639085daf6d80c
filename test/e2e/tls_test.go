package e2e

import (
	"context"
	"crypto/tls"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

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
	ca := tlstest.NewCA(t, "tls-e2e-ca")
	rc := f.ReadyCluster(t, "tls", framework.WithTLS(ca.ValidNode(t)))
	ns := rc.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	stranger := tlstest.NewCA(t, "stranger").ValidNode(t).ClientCredentials(t)
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
