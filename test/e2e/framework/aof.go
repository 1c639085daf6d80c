package framework

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// WaitAOFWritten waits until every node of rc has written to its append-only file every write
// acknowledged before the call: each replica has read its master's replication stream up to
// where the master was at the call, and no node holds AOF data it has not written yet (INFO
// persistence aof_buffer_length:0). A deleted pod's process ends but the machine goes on, so
// what a node wrote to its file comes back with it, fsync or not.
func WaitAOFWritten(t testing.TB, rc *redisv1beta1.RedisCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	streams := map[string]int64{} // master node id -> its master_repl_offset at the call
	for _, n := range rc.Status.Nodes {
		if n.Role != redisv1beta1.RoleMaster {
			continue
		}
		info, err := nodeInfo(ctx, n, "replication")
		if err != nil {
			t.Fatal(err)
		}
		if streams[n.NodeID], err = strconv.ParseInt(info["master_repl_offset"], 10, 64); err != nil {
			t.Fatalf("%s: master_repl_offset %q", n.Pod, info["master_repl_offset"])
		}
	}
	WaitFor(t, 30*time.Second, "every node to have written the acknowledged writes to its AOF", func() (bool, error) {
		for _, n := range rc.Status.Nodes {
			info, err := nodeInfo(ctx, n, "persistence", "replication")
			if err != nil {
				return false, err
			}
			if info["aof_enabled"] != "1" {
				t.Fatalf("%s runs without an append-only file", n.Pod)
			}
			if n.Role == redisv1beta1.RoleReplica {
				offset, _ := strconv.ParseInt(info["slave_repl_offset"], 10, 64)
				if want := streams[n.MasterNodeID]; offset < want {
					return false, fmt.Errorf("replica %s has read its master's stream to %d of %d", n.Pod, offset, want)
				}
			}
			if pending := info["aof_buffer_length"]; pending != "0" {
				return false, fmt.Errorf("%s holds %s bytes not yet written to its AOF", n.Pod, pending)
			}
		}
		return true, nil
	})
}

// nodeInfo is the fields of INFO sections of the node n.
func nodeInfo(ctx context.Context, n redisv1beta1.NodeStatus, sections ...string) (map[string]string, error) {
	addr := net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port)))
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	raw, err := c.Info(ctx, sections...).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO on %s (%s): %w", n.Pod, addr, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(raw, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields, nil
}
