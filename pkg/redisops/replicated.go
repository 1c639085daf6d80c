package redisops

import (
	"context"
	"fmt"
	"time"

	"redis-operator/pkg/redisops/topology"
)

// replicaCatchUp bounds how long a hand-over waits for the target's replica to have its writes
// (a variable for tests), and replicaPoll is how often it looks.
var replicaCatchUp = 30 * time.Second

const replicaPoll = 20 * time.Millisecond

// waitReplicated waits until the replica at replica, linked to master, has read master's
// replication stream as far as it went when called: then it holds every key master had.
func (a *Admin) waitReplicated(ctx context.Context, master, replica string) error {
	raw, err := a.Client(master).Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("reading the replication offset of %s: %w", master, err)
	}
	want := (&topology.NodeState{Replication: topology.ParseInfo(raw)}).StreamOffset()
	deadline := time.Now().Add(replicaCatchUp)
	var got *topology.NodeState
	for {
		raw, err := a.Client(replica).Info(ctx, "replication").Result()
		if err == nil {
			got = &topology.NodeState{Replication: topology.ParseInfo(raw)}
			if got.LinkUp() && got.ReplOffset() >= want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if got == nil {
				return fmt.Errorf("replica %s of %s does not answer: %v", replica, master, err)
			}
			return fmt.Errorf("replica %s of %s is at offset %d (link up %t) after %s, short of %d",
				replica, master, got.ReplOffset(), got.LinkUp(), replicaCatchUp, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(replicaPoll):
		}
	}
}

// LinkedReplica is the address of a reachable replica of the master id whose link is up, or ""
// when it has none.
func LinkedReplica(view *topology.ClusterView, id string) string {
	for _, st := range view.Reachable() {
		if self, ok := st.Self(); ok && !self.Master() && self.MasterID == id && st.LinkUp() {
			return st.Addr
		}
	}
	return ""
}
