package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/test/redistest"
)

// pingAs pings addr on a new connection that authenticates with password ("" for none).
func pingAs(ctx context.Context, addr, password string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	return c.Ping(ctx).Err()
}

func requireAccepts(t *testing.T, ctx context.Context, addr string, accepted, refused []string) {
	t.Helper()
	for _, p := range accepted {
		require.NoError(t, pingAs(ctx, addr, p), "%s with password %q", addr, p)
	}
	for _, p := range refused {
		err := pingAs(ctx, addr, p)
		require.True(t, redisops.IsAuthFailure(err), "%s with password %q: %v", addr, p, err)
	}
}

func TestAdminWithSeveralPasswordsReachesEveryStageOfARotation(t *testing.T) {
	servers := redistest.StartServers(t, 4, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setup := redisops.NewAdmin()
	oldOnly, both, newOnly, none := servers[0].Addr, servers[1].Addr, servers[2].Addr, servers[3].Addr
	require.NoError(t, setup.SetPassword(ctx, oldOnly, "old"))
	require.NoError(t, setup.SetPassword(ctx, both, "old"))
	require.NoError(t, setup.AddPassword(ctx, both, "new"))
	require.NoError(t, setup.SetPassword(ctx, newOnly, "new"))
	setup.Close()

	requireAccepts(t, ctx, oldOnly, []string{"old"}, []string{"new", ""})
	requireAccepts(t, ctx, both, []string{"old", "new"}, []string{"other", ""})
	requireAccepts(t, ctx, newOnly, []string{"new"}, []string{"old", ""})
	// Without a password the default user is nopass: AUTH default <anything> passes.
	requireAccepts(t, ctx, none, []string{"", "old", "new"}, nil)

	admin := redisops.NewAdmin("new", "old")
	t.Cleanup(admin.Close)
	for _, addr := range []string{oldOnly, both, newOnly, none} {
		require.NoError(t, admin.Client(addr).Ping(ctx).Err(), addr)
		result, err := admin.SetConfig(ctx, addr, map[string]string{"maxmemory": "1mb"})
		require.NoError(t, err, addr)
		require.True(t, result.Ok(), addr)
	}

	withOld := redisops.NewAdmin("old")
	t.Cleanup(withOld.Close)
	err := withOld.Client(newOnly).Ping(ctx).Err()
	require.True(t, redisops.IsAuthFailure(err), "%v", err)
	require.ErrorContains(t, err, "WRONGPASS")
	_, err = withOld.SetConfig(ctx, newOnly, map[string]string{"maxmemory": "1mb"})
	require.Error(t, err, "an Admin the node refuses gets an error, not a refused directive")

	anonymous := redisops.NewAdmin()
	t.Cleanup(anonymous.Close)
	require.ErrorContains(t, anonymous.Client(oldOnly).Ping(ctx).Err(), "NOAUTH")
	require.NoError(t, anonymous.Client(none).Ping(ctx).Err())
}

func TestPooledConnectionsOutliveARotation(t *testing.T) {
	servers := redistest.StartServers(t, 1, redistest.Options{})
	addr := servers[0].Addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setup := redisops.NewAdmin("old")
	t.Cleanup(setup.Close)
	require.NoError(t, setup.SetPassword(ctx, addr, "old"))

	admin := redisops.NewAdmin("new", "old")
	t.Cleanup(admin.Close)
	client := admin.Client(addr)
	require.NoError(t, client.Ping(ctx).Err())
	require.EqualValues(t, 1, client.PoolStats().TotalConns)

	require.NoError(t, setup.AddPassword(ctx, addr, "new"))
	require.NoError(t, setup.SetPassword(ctx, addr, "new"))
	requireAccepts(t, ctx, addr, []string{"new"}, []string{"old"})

	require.NoError(t, client.Ping(ctx).Err(), "the connection made with the old password")
	require.EqualValues(t, 1, client.PoolStats().TotalConns)
	held := client.Conn()
	defer held.Close()
	require.NoError(t, held.Ping(ctx).Err())
	require.NoError(t, client.Ping(ctx).Err(), "a new connection, made with the new password")
	require.EqualValues(t, 2, client.PoolStats().TotalConns)
}

func TestAddPasswordEndsNopass(t *testing.T) {
	servers := redistest.StartServers(t, 1, redistest.Options{})
	addr := servers[0].Addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := redisops.NewAdmin()
	t.Cleanup(admin.Close)
	require.NoError(t, admin.Client(addr).Ping(ctx).Err())

	require.NoError(t, admin.AddPassword(ctx, addr, "pw"))
	requireAccepts(t, ctx, addr, []string{"pw"}, []string{"", "other"})
	require.NoError(t, admin.Client(addr).Ping(ctx).Err(), "a connection opened before stays authenticated")
	requirepass, err := admin.Client(addr).ConfigGet(ctx, "requirepass").Result()
	require.NoError(t, err)
	require.Equal(t, "", requirepass["requirepass"], "ACL SETUSER leaves requirepass as it was")

	require.Error(t, admin.AddPassword(ctx, addr, ""))
	require.NoError(t, admin.SetPassword(ctx, addr, ""), "even though requirepass already is \"\"")
	requireAccepts(t, ctx, addr, []string{"", "anything"}, nil)
}

func TestSetPasswordDropsAddedPasswordsEvenWhenRequirepassIsUnchanged(t *testing.T) {
	servers := redistest.StartServers(t, 1, redistest.Options{})
	addr := servers[0].Addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := redisops.NewAdmin("old")
	t.Cleanup(admin.Close)
	require.NoError(t, admin.SetPassword(ctx, addr, "old"))
	require.NoError(t, admin.AddPassword(ctx, addr, "new"))
	requireAccepts(t, ctx, addr, []string{"old", "new"}, nil)

	// A rotation rolled back: Redis skips CONFIG SET requirepass old, as old is its value.
	require.NoError(t, admin.SetPassword(ctx, addr, "old"))
	requireAccepts(t, ctx, addr, []string{"old"}, []string{"new", ""})
}

// TestPasswordRotationKeepsTheClusterWhole sets a password on a 3x1 cluster, rotates it as the
// operator would, moving slots with keys before and after, and then removes it.
func TestPasswordRotationKeepsTheClusterWhole(t *testing.T) {
	servers := redistest.StartServers(t, 6, redistest.Options{})
	boot := redisops.NewAdmin()
	t.Cleanup(boot.Close)
	redistest.BootstrapCluster(t, boot, servers, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addrs := redistest.Addrs(servers)
	masters, replicas := addrs[:3], addrs[3:]
	keys := append(keysInSlot(0, 20), keysInSlot(1, 20)...)
	for _, k := range keys {
		require.NoError(t, boot.Client(masters[0]).Set(ctx, k, "v-"+k, 0).Err())
	}

	everywhere := func(admin *redisops.Admin, step func(context.Context, string, string) error, password string) {
		t.Helper()
		for _, addr := range addrs {
			require.NoError(t, step(ctx, addr, password), addr)
		}
	}
	// relink cuts every replica's link to its master, which it remakes with its masterauth.
	relink := func(admin *redisops.Admin) {
		t.Helper()
		for _, addr := range replicas {
			require.NoError(t, admin.Client(addr).Do(ctx, "CLIENT", "KILL", "TYPE", "master").Err())
		}
		redistest.WaitFor(t, ctx, "every replica linked", func() bool {
			view := admin.View(ctx, addrs)
			for _, addr := range replicas {
				if !view.Nodes[addr].LinkUp() {
					return false
				}
			}
			for _, addr := range addrs {
				if !view.Nodes[addr].StateOK() {
					return false
				}
			}
			return true
		})
	}
	ids := map[string]string{}
	for _, addr := range masters {
		ids[addr] = selfID(t, ctx, boot, addr)
	}
	move := func(admin *redisops.Admin, from, to string) {
		t.Helper()
		done, err := admin.MoveSlots(ctx, redisops.Endpoint{Addr: from, ID: ids[from]},
			redisops.Endpoint{Addr: to, ID: ids[to]}, []int{0, 1}, masters, nil)
		require.NoError(t, err)
		require.Equal(t, []int{0, 1}, done)
		for _, k := range keys {
			require.Equal(t, "v-"+k, admin.Client(to).Get(ctx, k).Val(), k)
		}
	}

	// A first password, masterauth first: a replica authenticating to a master without a
	// password links as well.
	setup := redisops.NewAdmin("old")
	t.Cleanup(setup.Close)
	everywhere(setup, setup.SetMasterAuth, "old")
	relink(setup)
	everywhere(setup, setup.SetPassword, "old")
	relink(setup)

	admin := redisops.NewAdmin("new", "old")
	t.Cleanup(admin.Close)
	move(admin, masters[0], masters[1]) // MIGRATE authenticates to the target with old

	everywhere(admin, admin.AddPassword, "new")
	for _, addr := range addrs {
		requireAccepts(t, ctx, addr, []string{"old", "new"}, []string{""})
	}
	everywhere(admin, admin.SetMasterAuth, "new")
	relink(admin)
	everywhere(admin, admin.SetPassword, "new")
	for _, addr := range addrs {
		requireAccepts(t, ctx, addr, []string{"new"}, []string{"old", ""})
	}
	relink(admin)
	move(admin, masters[1], masters[2]) // and now with new

	// Removal, in the same order: passwords, then masterauth, and the links hold in between.
	everywhere(admin, admin.SetPassword, "")
	for _, addr := range addrs {
		requireAccepts(t, ctx, addr, []string{""}, nil)
	}
	anonymous := redisops.NewAdmin()
	t.Cleanup(anonymous.Close)
	relink(anonymous)
	everywhere(admin, admin.SetMasterAuth, "")
	relink(anonymous)
	move(anonymous, masters[2], masters[0])
	move(admin, masters[0], masters[1]) // MIGRATE without AUTH2
}

// The exporter's user reads what redis_exporter scrapes, with its own password, through the
// default user's password changes, and reads and writes no key.
func TestMonitorUserReadsStatsAndNoKeys(t *testing.T) {
	// A lone node knows no address of its own: a replica beside it.
	servers := redistest.StartServers(t, 2, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := redisops.NewAdmin("first", "second")
	t.Cleanup(admin.Close)
	addr := servers[0].Addr
	setup := redisops.NewAdmin()
	t.Cleanup(setup.Close)
	redistest.BootstrapCluster(t, setup, servers, 1)
	require.NoError(t, admin.SetPassword(ctx, addr, "first"))
	require.NoError(t, admin.Client(addr).Set(ctx, "k", "v", 0).Err())
	require.NoError(t, admin.SetUser(ctx, addr, conf.MonitorUser, conf.MonitorRules("old-monitor")))
	// A second SetUser is exact: the former password goes.
	require.NoError(t, admin.SetUser(ctx, addr, conf.MonitorUser, conf.MonitorRules("monitor")))

	monitor := redis.NewClient(&redis.Options{Addr: addr, Username: conf.MonitorUser, Password: "monitor",
		Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { _ = monitor.Close() })
	scrape := func() {
		t.Helper()
		for _, cmd := range [][]interface{}{
			{"INFO", "ALL"}, {"CONFIG", "GET", "maxmemory"}, {"CLUSTER", "INFO"}, {"SLOWLOG", "LEN"},
			{"SLOWLOG", "GET", "10"}, {"LATENCY", "LATEST"}, {"CLIENT", "SETNAME", "redis_exporter"}, {"PING"},
		} {
			require.NoError(t, monitor.Do(ctx, cmd...).Err(), "%v", cmd)
		}
	}
	scrape()
	for _, cmd := range [][]interface{}{
		{"GET", "k"}, {"SET", "k", "x"}, {"CONFIG", "SET", "maxmemory", "1"}, {"KEYS", "*"}, {"FLUSHALL"},
		{"CLUSTER", "RESET"}, {"ACL", "LIST"},
	} {
		require.ErrorContains(t, monitor.Do(ctx, cmd...).Err(), "NOPERM", "%v", cmd)
	}

	// The default user's password changes; the monitor's does not.
	require.NoError(t, admin.SetPassword(ctx, addr, "second"))
	monitor.Close()
	monitor = redis.NewClient(&redis.Options{Addr: addr, Username: conf.MonitorUser, Password: "monitor",
		Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	scrape()
	for _, password := range []string{"old-monitor", "second", ""} {
		c := redis.NewClient(&redis.Options{Addr: addr, Username: conf.MonitorUser, Password: password,
			Protocol: 2, DisableIdentity: true, MaxRetries: -1})
		err := c.Ping(ctx).Err()
		_ = c.Close()
		require.True(t, redisops.IsAuthFailure(err), "password %q: %v", password, err)
	}
	require.Equal(t, "v", admin.Client(addr).Get(ctx, "k").Val())
}

// A node that took only an older password than the newest an Admin holds (its container
// restarted on a config file from before the change) is told apart in the view; a node that
// takes the newest, or an Admin with one password, is not.
func TestViewTellsANodeThatRunsAnOlderPassword(t *testing.T) {
	servers := redistest.StartServers(t, 2, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setup := redisops.NewAdmin()
	older, both := servers[0].Addr, servers[1].Addr
	require.NoError(t, setup.SetPassword(ctx, older, "old"))
	require.NoError(t, setup.SetPassword(ctx, both, "old"))
	require.NoError(t, setup.AddPassword(ctx, both, "new"))
	setup.Close()

	admin := redisops.NewAdmin("new", "old")
	t.Cleanup(admin.Close)
	view := admin.View(ctx, []string{older, both})
	require.NoError(t, view.Nodes[older].Err)
	require.True(t, view.Nodes[older].OlderPassword, "takes old only")
	require.False(t, view.Nodes[both].OlderPassword, "takes new too")
	require.NoError(t, admin.Client(older).Ping(ctx).Err(), "a refused AUTH leaves the connection logged in")

	single := redisops.NewAdmin("old")
	t.Cleanup(single.Close)
	require.False(t, single.View(ctx, []string{older}).Nodes[older].OlderPassword, "no newer password to tell")
}
