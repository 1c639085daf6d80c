package redisops_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/test/redistest"
)

// loggedIn is one connection authenticated as user; its CLIENT ID tells whether it is still
// the same connection.
func loggedIn(t *testing.T, ctx context.Context, addr, user, password string) (*redis.Conn, int64) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: password, Protocol: 2,
		DisableIdentity: true, MaxRetries: -1, PoolSize: 1})
	t.Cleanup(func() { _ = client.Close() })
	conn := client.Conn()
	t.Cleanup(func() { _ = conn.Close() })
	id, err := conn.ClientID(ctx).Result()
	require.NoError(t, err, "log in as %s", user)
	return conn, id
}

func requireSameConnection(t *testing.T, ctx context.Context, conn *redis.Conn, id int64, what string) {
	t.Helper()
	got, err := conn.ClientID(ctx).Result()
	require.NoError(t, err, what)
	require.Equal(t, id, got, what)
}

func usersOf(users ...conf.User) map[string][]string {
	out := map[string][]string{}
	for _, u := range users {
		out[u.Name] = u.ACLRules()
	}
	return out
}

// Users are added, their password rotated, their rules narrowed and removed, each with one ACL
// SETUSER or DELUSER: a client logged in as another user, and one logged in as the user
// itself until it is removed, keep their connection. A rule Redis does not know changes
// nothing. A node started from the config file lists the users exactly as one given them live.
func TestSetUsersChangesUsersLiveAndTheFileKeepsThem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := redistest.StartServers(t, 1, redistest.Options{})[0].Addr
	admin := redisops.NewAdmin()
	t.Cleanup(admin.Close)
	require.NoError(t, admin.Client(addr).Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err())
	redistest.WaitFor(t, ctx, "the one-node cluster up", func() bool {
		info, _ := admin.Client(addr).ClusterInfo(ctx).Result()
		return strings.Contains(info, "cluster_state:ok")
	})

	other := conf.User{Name: "other", Rules: []string{"~*", "+@all"}, PasswordSHA256: conf.PasswordSHA256("other-pw")}
	app := conf.User{Name: "app", Rules: []string{"~app:*", "+@all"}, PasswordSHA256: conf.PasswordSHA256("first")}
	_, err := admin.SetUsers(ctx, addr, usersOf(other), conf.MonitorUser)
	require.NoError(t, err)
	otherConn, otherID := loggedIn(t, ctx, addr, "other", "other-pw")

	_, err = admin.SetUsers(ctx, addr, usersOf(other, app), conf.MonitorUser)
	require.NoError(t, err)
	appConn, appID := loggedIn(t, ctx, addr, "app", "first")
	require.NoError(t, appConn.Set(ctx, "app:k", "v", 0).Err())
	require.ErrorContains(t, appConn.Set(ctx, "else:k", "v", 0).Err(), "NOPERM")

	app.PasswordSHA256 = conf.PasswordSHA256("second")
	_, err = admin.SetUsers(ctx, addr, usersOf(other, app), conf.MonitorUser)
	require.NoError(t, err)
	require.True(t, redisops.IsAuthFailure(authAs(ctx, addr, "app", "first")), "the old password is refused")
	require.NoError(t, authAs(ctx, addr, "app", "second"))
	requireSameConnection(t, ctx, appConn, appID, "the user's own client, through its password rotation")

	app.Rules = []string{"~app:*", "+@read", "+@connection"}
	_, err = admin.SetUsers(ctx, addr, usersOf(other, app), conf.MonitorUser)
	require.NoError(t, err)
	require.ErrorContains(t, appConn.Set(ctx, "app:k", "w", 0).Err(), "NOPERM", "narrowed on the open connection")
	require.Equal(t, "v", appConn.Get(ctx, "app:k").Val())
	requireSameConnection(t, ctx, appConn, appID, "the user's own client, through its rules narrowing")

	before, err := admin.Client(addr).Do(ctx, "ACL", "GETUSER", "app").Result()
	require.NoError(t, err)
	err = admin.SetUser(ctx, addr, "app", append(app.ACLRules(), "+nosuchcommand"))
	require.True(t, redisops.IsRefused(err), "%v", err)
	after, err := admin.Client(addr).Do(ctx, "ACL", "GETUSER", "app").Result()
	require.NoError(t, err)
	require.Equal(t, before, after, "a refused rule changes nothing")
	require.False(t, redisops.IsRefused(context.DeadlineExceeded))

	listing, err := admin.SetUsers(ctx, addr, usersOf(other), conf.MonitorUser)
	require.NoError(t, err)
	require.True(t, redisops.IsAuthFailure(authAs(ctx, addr, "app", "second")), "removed")
	require.Error(t, appConn.Ping(ctx).Err(), "a removed user's clients are cut")
	requireSameConnection(t, ctx, otherConn, otherID, "another user's client, through all of it")
	require.Len(t, listing, 1, "default is not listed, other is: %v", listing)

	// The config file: a node starting from it lists the users as one given them live does.
	selector := conf.User{Name: "cache", Rules: []string{"~app:*", "+@read", "(~cache:* +get)"}, PasswordSHA256: conf.PasswordSHA256("c")}
	live, err := admin.SetUsers(ctx, addr, usersOf(other, app, selector), conf.MonitorUser)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "redis.conf")
	require.NoError(t, os.WriteFile(file, []byte(conf.File(nil, "", "", []conf.User{other, app, selector})), 0o600))
	restarted := redistest.StartServers(t, 1, redistest.Options{Include: file})[0].Addr
	started, err := admin.Client(restarted).Do(ctx, "ACL", "LIST").StringSlice()
	require.NoError(t, err)
	require.Equal(t, live, slices.DeleteFunc(started, func(line string) bool { return strings.HasPrefix(line, "user default ") }))
}

// authAs authenticates a new connection as user.
func authAs(ctx context.Context, addr, user, password string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	return c.Ping(ctx).Err()
}
