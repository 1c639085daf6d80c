package redisops_test

import (
	"context"
	"fmt"
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

// Every node of a running plain cluster switched to TLS, then back, live and one after the
// other: every key stays and is served the new way; the links opened since (a replica's to its
// master, a new node's bus links, MIGRATE's) use the new way, and the links open before keep
// working meanwhile.
func TestEveryNodeSwitchedToTLSAndBackKeepsTheClusterAndItsKeys(t *testing.T) {
	creds := tlstest.NewCA(t, "switch-ca").ValidNode(t)
	dir := t.TempDir()
	files := creds.Write(t, dir)
	servers := redistest.StartServers(t, 6, redistest.Options{TLS: &files, PlainLinks: true})
	plain := redisops.NewAdmin()
	t.Cleanup(plain.Close)
	redistest.BootstrapCluster(t, plain, servers, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keys := make([]string, 20000)
	pc := redistest.ClusterClient(t, servers)
	for i := range keys {
		keys[i] = fmt.Sprintf("switch-key-%d", i)
		require.NoError(t, pc.Set(ctx, keys[i], "v", 0).Err())
	}
	client := creds.ClientCredentials(t)
	config := redisops.TLSConfig(func() *redisops.TLSCredentials { return client })
	tlsAdmin := redisops.NewTLSAdmin(config)
	t.Cleanup(tlsAdmin.Close)

	names := conf.CertificateFiles{Cert: "tls.crt", Key: "tls.key", CA: "ca.crt"}
	for _, s := range servers {
		require.NoError(t, plain.SwitchTLS(ctx, s.Addr, s.Port, &names, "yes"))
	}
	for _, s := range servers {
		fresh := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
		require.Error(t, fresh.Ping(ctx).Err(), "a new plain connection to %s", s.Addr)
		_ = fresh.Close()
	}
	requireServed(t, ctx, redistest.TLSClusterClient(t, servers, config), keys)
	relinkReplicas(t, ctx, tlsAdmin, servers[3:])
	joinAndLeave(t, ctx, tlsAdmin, servers, redistest.Options{TLS: &files})
	moveSlots(t, ctx, tlsAdmin, servers, 0, 100)
	redistest.WaitNoError(t, ctx, "a TLS cluster check", func() error {
		return invariants.Check(ctx, tlsAdmin, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1, TLS: &files})
	})

	for _, s := range servers {
		require.NoError(t, tlsAdmin.SwitchTLS(ctx, s.Addr, s.Port, nil, ""))
	}
	back := redisops.NewAdmin()
	t.Cleanup(back.Close)
	requireServed(t, ctx, redistest.ClusterClient(t, servers), keys)
	relinkReplicas(t, ctx, back, servers[3:])
	joinAndLeave(t, ctx, back, servers, redistest.Options{})
	moveSlots(t, ctx, back, servers, 100, 200)
	redistest.WaitNoError(t, ctx, "a plain cluster check", func() error {
		return invariants.Check(ctx, back, redistest.Addrs(servers), invariants.Expect{Masters: 3, ReplicasPerMaster: 1})
	})
}

func requireServed(t *testing.T, ctx context.Context, c *redis.ClusterClient, keys []string) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, c.Get(ctx, k).Err(), k)
	}
}

// relinkReplicas cuts each replica's link to its master and waits until it is up again: a
// replication link opened anew.
func relinkReplicas(t *testing.T, ctx context.Context, admin *redisops.Admin, replicas []*redistest.Server) {
	t.Helper()
	for _, r := range replicas {
		require.NoError(t, admin.Client(r.Addr).Do(ctx, "CLIENT", "KILL", "TYPE", "master").Err())
	}
	redistest.WaitFor(t, ctx, "every replica's link up again", func() bool {
		view := admin.View(ctx, redistest.Addrs(replicas))
		for _, st := range view.Nodes {
			if st.Err != nil || !st.LinkUp() {
				return false
			}
		}
		return true
	})
}

// joinAndLeave has a new node of opts meet the cluster, waits until every node knows it (bus
// links both ways, opened anew), then has every node forget it.
func joinAndLeave(t *testing.T, ctx context.Context, admin *redisops.Admin, servers []*redistest.Server, opts redistest.Options) {
	t.Helper()
	extra := redistest.StartServers(t, 1, opts)[0]
	require.NoError(t, admin.Meet(ctx, extra.Addr, "127.0.0.1", servers[0].Port, servers[0].Port+10000))
	id := ""
	redistest.WaitFor(t, ctx, "every node to know the new one", func() bool {
		view := admin.View(ctx, append(redistest.Addrs(servers), extra.Addr))
		self, ok := view.Nodes[extra.Addr].Self()
		if !ok {
			return false
		}
		id = self.ID
		for _, s := range servers {
			known := false
			for _, n := range view.Nodes[s.Addr].Table {
				known = known || (n.ID == id && n.Usable())
			}
			if !known {
				return false
			}
		}
		return true
	})
	extra.Kill()
	require.NoError(t, admin.ForgetEverywhere(ctx, admin.View(ctx, redistest.Addrs(servers)), id))
}

// moveSlots moves slots [from, to) from their owner to the owner of the last slot: MIGRATE's
// links opened anew.
func moveSlots(t *testing.T, ctx context.Context, admin *redisops.Admin, servers []*redistest.Server, from, to int) {
	t.Helper()
	view := admin.View(ctx, redistest.Addrs(servers))
	owners, _ := view.SlotOwners()
	byID := view.ByID()
	source, target := owners[from], owners[topology.SlotCount-1]
	var slots []int
	for s := from; s < to; s++ {
		slots = append(slots, s)
	}
	done, err := admin.MoveSlots(ctx, redisops.Endpoint{Addr: byID[source].Addr, ID: source},
		redisops.Endpoint{Addr: byID[target].Addr, ID: target}, slots, redistest.Addrs(servers), nil)
	require.NoError(t, err)
	require.Equal(t, slots, done)
}
