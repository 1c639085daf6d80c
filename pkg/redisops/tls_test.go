package redisops_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
	"redis-operator/test/invariants"
	"redis-operator/test/redistest"
	"redis-operator/test/tlstest"
)

// A cluster whose every link is TLS: the operator's connections present the node certificate
// and check the nodes' against the CA; replication, the cluster bus and MIGRATE all run over
// TLS, since the nodes have no plain port at all.
func TestATLSClusterMovesSlotsOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster-ca")
	creds := ca.ValidNode(t)
	files := creds.Write(t, t.TempDir())
	servers := redistest.StartServers(t, 6, redistest.Options{TLS: &files})
	client := creds.ClientCredentials(t)
	config := redisops.TLSConfig(func() *redisops.TLSCredentials { return client })
	admin := redisops.NewTLSAdmin(config, "")
	t.Cleanup(admin.Close)
	redistest.BootstrapCluster(t, admin, servers, 3) // replicas in sync over TLS
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	keys := make([]string, 20000)
	cc := redistest.TLSClusterClient(t, servers, config)
	for i := range keys {
		keys[i] = fmt.Sprintf("tls-key-%d", i)
		require.NoError(t, cc.Set(ctx, keys[i], "v-"+keys[i], 0).Err())
	}

	view := admin.View(ctx, redistest.Addrs(servers))
	owners, _ := view.SlotOwners()
	byID := view.ByID()
	source, target := owners[0], owners[topology.SlotCount-1]
	slots := make([]int, 0, 1000)
	for s := 0; s < 1000; s++ {
		slots = append(slots, s)
	}
	done, err := admin.MoveSlots(ctx, redisops.Endpoint{Addr: byID[source].Addr, ID: source},
		redisops.Endpoint{Addr: byID[target].Addr, ID: target}, slots, redistest.Addrs(servers), nil)
	require.NoError(t, err)
	require.Equal(t, slots, done)
	moved := int64(0)
	for _, s := range slots {
		n, err := admin.CountKeysInSlot(ctx, byID[target].Addr, s)
		require.NoError(t, err)
		moved += n
	}
	require.NotZero(t, moved, "MIGRATE carried keys over TLS")
	redistest.WaitNoError(t, ctx, "every node to agree", func() error {
		return invariants.Check(ctx, admin, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1, TLS: &files})
	})
	for _, k := range keys {
		v, err := cc.Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, "v-"+k, v)
	}

	// Nothing gets in without TLS, nor without a certificate of the cluster's CA.
	ping := func(config *tls.Config) error {
		c := redis.NewClient(&redis.Options{Addr: servers[0].Addr, TLSConfig: config, MaxRetries: -1, DialTimeout: time.Second})
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	require.Error(t, ping(nil), "a plain connection")
	require.Error(t, ping(&tls.Config{InsecureSkipVerify: true}), "a TLS client without a certificate") //nolint:gosec
	stranger := tlstest.NewCA(t, "another-ca").ValidNode(t).ClientCredentials(t)
	stranger.Roots = client.Roots // it trusts the nodes; they must not trust it
	require.Error(t, ping(redisops.TLSConfig(func() *redisops.TLSCredentials { return stranger })), "a certificate of another CA")
	require.NoError(t, ping(config), "the node certificate gets in")
}

// A node loads renewed files with one CONFIG SET, without a restart, and a new handshake shows
// the new certificate; files it cannot use leave it serving what it had.
func TestReloadCertificateServesTheRenewedFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster-ca")
	first := ca.ValidNode(t)
	dir := t.TempDir()
	files := first.Write(t, dir)
	servers := redistest.StartServers(t, 1, redistest.Options{TLS: &files})
	client := first.ClientCredentials(t)
	admin := redisops.NewTLSAdmin(redisops.TLSConfig(func() *redisops.TLSCredentials { return client }), "")
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := servers[0].Addr
	runID := func() string {
		info, err := admin.Client(addr).Info(ctx, "server").Result()
		require.NoError(t, err)
		return info[strings.Index(info, "run_id:")+7:][:40]
	}
	before := runID()
	served, err := admin.ServedCertificate(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, client.Leaf.SerialNumber, served.SerialNumber)

	renewed := ca.ValidNode(t)
	renewed.Write(t, dir)
	served, err = admin.ServedCertificate(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, client.Leaf.SerialNumber, served.SerialNumber, "files alone change nothing")
	require.NoError(t, admin.ReloadCertificate(ctx, addr, conf.CertificateFiles{}))
	served, err = admin.ServedCertificate(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, renewed.ClientCredentials(t).Leaf.SerialNumber, served.SerialNumber)
	require.Equal(t, before, runID(), "no restart")

	mismatched := tlstest.Credentials{Cert: ca.ValidNode(t).Cert, Key: renewed.Key, CA: renewed.CA}
	mismatched.Write(t, dir)
	require.Error(t, admin.ReloadCertificate(ctx, addr, conf.CertificateFiles{}))
	require.Error(t, admin.ReloadCertificate(ctx, addr, conf.CertificateFiles{Cert: "v-next.crt", Key: "v-next.key", CA: "v-next-ca.crt"}),
		"files not there yet")

	served, err = admin.ServedCertificate(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, renewed.ClientCredentials(t).Leaf.SerialNumber, served.SerialNumber, "the node kept what it had")

	// Files of other names in the same directory: the node runs with those names from then on.
	next := ca.ValidNode(t)
	for name, data := range map[string][]byte{"v-next.crt": next.Cert, "v-next.key": next.Key, "v-next-ca.crt": next.CA} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	require.NoError(t, admin.ReloadCertificate(ctx, addr, conf.CertificateFiles{Cert: "v-next.crt", Key: "v-next.key", CA: "v-next-ca.crt"}))
	loaded, err := admin.Client(addr).ConfigGet(ctx, "tls-*-file").Result()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "v-next-ca.crt"), loaded["tls-ca-cert-file"], "the node says which files it runs")
	served, err = admin.ServedCertificate(ctx, addr)
	require.NoError(t, err)
	require.Equal(t, next.ClientCredentials(t).Leaf.SerialNumber, served.SerialNumber)
	require.Equal(t, before, runID(), "no restart")
}
