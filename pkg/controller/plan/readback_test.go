package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/conf"
)

// settingsByNode plans o's live step and gives, per node index, the settings it sets.
func settingsByNode(o *Observation) map[int]map[string]string {
	out := map[int]map[string]string{}
	for _, a := range planLive(o, plannerInput(o.Cluster, o)) {
		if s, ok := a.(ApplySettings); ok {
			out[s.Node.Index] = s.Settings
		}
	}
	return out
}

// What a node reads back decides, not only its pod's annotation: a node that runs
// an older value (a restart that read an older file) or a setting removed from the spec gets
// the live settings again, a removed one at its default.
func TestLiveSettingsFollowWhatNodesReadBack(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Config = map[string]redisv1beta1.ConfigValue{"hz": "20", "lua-time-limit": "10000"}
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	o := liveObservation(secret, objects.SettingsHash(rc, nil), "0")
	o.Cluster = rc
	require.Equal(t, []string{"hz", "lua-time-limit", "maxmemory-policy"}, filter(ReadBackDirectives(o), "hz", "lua-time-limit", "maxmemory-policy"))
	require.NotContains(t, ReadBackDirectives(o), "busy-reply-threshold", "set through its alias: its default must not undo it")
	require.Empty(t, settingsByNode(o), "nothing read back: the annotations tell")

	in := plannerInput(rc, o)
	for _, m := range in.Members {
		o.View.Nodes[m.Addr()].Config = map[string]string{"hz": "20", "maxmemory-policy": "noeviction",
			"lua-time-limit": "10000", "busy-reply-threshold": "10000", "lazyfree-lazy-eviction": "no"}
	}
	require.Empty(t, settingsByNode(o), "every node runs the live settings")

	addr := func(index int) string {
		for _, m := range in.Members {
			if m.Index == index {
				return m.Addr()
			}
		}
		t.Fatalf("no member %d", index)
		return ""
	}
	o.View.Nodes[addr(1)].Config["hz"] = "15"
	o.View.Nodes[addr(2)].Config["maxmemory-policy"] = "allkeys-lru"
	o.View.Nodes[addr(4)].Config["hz"] = "15"
	o.Pods[4].Annotations[objects.AnnotationSettings] = objects.RestartPrefix + objects.SettingsHash(rc, nil)
	got := settingsByNode(o)
	require.Len(t, got, 2, "node 4 waits for the rolling update")
	require.Equal(t, "20", got[1]["hz"])
	require.Equal(t, "noeviction", got[2]["maxmemory-policy"], "removed from the spec: back to the default")
	require.Equal(t, "20", got[2]["hz"], "the settings are applied whole")
}

func filter(in []string, keep ...string) []string {
	var out []string
	for _, s := range in {
		for _, k := range keep {
			if s == k {
				out = append(out, s)
			}
		}
	}
	return out
}

// A node whose ACL LIST is not what its pod recorded after its users were last set (a restart
// that read an older file) gets its users again; one that lists what it recorded does not.
func TestUsersFollowWhatNodesList(t *testing.T) {
	rc := testcluster.Cluster("rc")
	users := []conf.User{{Name: "app", Rules: []string{"~app:*", "+@read"}, PasswordSHA256: conf.PasswordSHA256("p")}}
	secret := objects.ConfigSecret(rc, "", "exporter-secret", users, nil, false)
	require.NotEqual(t, objects.SettingsHash(rc, nil), objects.SettingsHash(rc, secret), "users change the hash")
	o := liveObservation(secret, objects.SettingsHash(rc, secret), "0")
	o.Cluster = rc
	listed := []string{"user app on #" + users[0].PasswordSHA256 + " ~app:* resetchannels -@all +@read"}
	in := plannerInput(rc, o)
	for _, m := range in.Members {
		o.View.Nodes[m.Addr()].ACL = listed
		o.Pods[m.Index].Annotations[objects.AnnotationACL] = objects.ACLHash(listed)
	}
	require.Empty(t, settingsByNode(o), "every node lists what it recorded")

	o.View.Nodes[in.Members[3].Addr()].ACL = []string{"user app on #" + users[0].PasswordSHA256 + " ~app:* resetchannels -@all +@all"}
	var applied []ApplySettings
	for _, a := range planLive(o, in) {
		if s, ok := a.(ApplySettings); ok {
			applied = append(applied, s)
		}
	}
	require.Len(t, applied, 1)
	require.Equal(t, in.Members[3].Index, applied[0].Node.Index)
	require.Equal(t, users, applied[0].Users)
}
