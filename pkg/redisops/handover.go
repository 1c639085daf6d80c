package redisops

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"redis-operator/pkg/redisops/topology"
)

// Failover asks the replica at addr to take over from its master: CLUSTER FAILOVER FORCE or
// TAKEOVER, or for FailoverGraceful the hand-over of gracefulFailover.
func (a *Admin) Failover(ctx context.Context, addr string, mode topology.FailoverMode) error {
	if mode == topology.FailoverGraceful {
		return a.gracefulFailover(ctx, addr)
	}
	if err := a.Client(addr).Do(ctx, "CLUSTER", "FAILOVER", string(mode)).Err(); err != nil {
		return fmt.Errorf("CLUSTER FAILOVER %s on %s: %w", mode, addr, err)
	}
	return nil
}

// manualFailoverTimeout is how long Redis lets a manual failover hold the master's writes; a
// graceful failover holds them no longer.
const manualFailoverTimeout = 5 * time.Second

// Bounds of a graceful failover, all within manualFailoverTimeout of the master's pause.
const (
	// catchUpTimeout is how long the replica may take to read the last writes of its paused
	// master; a linked replica the planner found caught up needs milliseconds.
	catchUpTimeout = 2 * time.Second
	// switchTimeout is how long, after CLUSTER FAILOVER TAKEOVER, the replica may take to say it
	// is a master and the former master that it is not.
	switchTimeout = 2 * time.Second
	// failoverPoll is how often the offsets and roles are read meanwhile.
	failoverPoll = 5 * time.Millisecond
)

// gracefulFailover hands the role of the master of the replica at addr to the replica with no
// acknowledged write lost, the way Redis' CLUSTER FAILOVER does, but driven from here:
//
//  1. CLIENT PAUSE WRITE on the master: it holds every write from then on;
//  2. wait until the replica's slave_repl_offset reaches the master's master_repl_offset;
//  3. CLUSTER FAILOVER TAKEOVER on the replica: it claims the master's slots with a new config
//     epoch and tells every node at once;
//  4. wait until the replica says it is a master and the former master that it is not, then
//     CLIENT UNPAUSE: the writes it held are answered with MOVED to the new master.
//
// Plain CLUSTER FAILOVER (no option) does 1-2 itself but then needs an election, and Redis 7.0
// refuses or stalls one for timers the operator cannot read: a node that ran an election less
// than 4 node timeouts ago ("Failover attempt expired"), masters that voted about the same
// master less than 2 node timeouts ago ("can't vote about this master before N milliseconds"),
// and a master whose table does not list the replica yet ignores its request. A rolling update
// that passes every shard through one temporary node meets all three, and each costs a 5 s
// write pause. TAKEOVER needs no vote; what the votes would check is checked here: the master
// answers, the replica reads it and sees the same slots it claims, and every write it took is
// on the replica before the roles switch.
func (a *Admin) gracefulFailover(ctx context.Context, addr string) error {
	replica := a.fetchNode(ctx, addr)
	if replica.Err != nil {
		return replica.Err
	}
	self, ok := replica.Self()
	if !ok || self.Master() || self.MasterID == "" {
		return fmt.Errorf("graceful failover: the node at %s is not a replica", addr)
	}
	if !replica.LinkUp() {
		return fmt.Errorf("graceful failover: the replica at %s is not linked to its master", addr)
	}
	line, ok := replica.Peer(self.MasterID)
	if !ok || line.Addr == "" {
		return fmt.Errorf("graceful failover: the replica at %s has no address for its master %s", addr, self.MasterID)
	}
	master := a.fetchNode(ctx, line.Addr)
	if master.Err != nil {
		return fmt.Errorf("graceful failover: its master: %w", master.Err)
	}
	if ms, _ := master.Self(); ms.ID != self.MasterID || !ms.Master() {
		return fmt.Errorf("graceful failover: %s is not master %s", line.Addr, self.MasterID)
	} else if !sameRanges(ms.Slots, line.Slots) {
		// TAKEOVER claims the slots the replica believes its master serves.
		return fmt.Errorf("graceful failover: the replica at %s believes its master serves %s, the master says %s",
			addr, topology.FormatRanges(line.Slots), topology.FormatRanges(ms.Slots))
	}

	pausedAt := time.Now()
	if err := a.Client(line.Addr).Do(ctx, "CLIENT", "PAUSE", manualFailoverTimeout.Milliseconds(), "WRITE").Err(); err != nil {
		return fmt.Errorf("CLIENT PAUSE WRITE on %s: %w", line.Addr, err)
	}
	tookOver := false
	defer func() {
		// The master's clients need not wait for the pause to run out, unless the replica
		// claimed the slots and the master may not know yet: a write it took then would be lost.
		if tookOver {
			return
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = a.Client(line.Addr).Do(uctx, "CLIENT", "UNPAUSE").Err()
	}()

	// Read after the pause: no write beyond this offset is acknowledged until the switch.
	info, err := a.Client(line.Addr).Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("INFO replication on %s: %w", line.Addr, err)
	}
	target, _ := strconv.ParseInt(topology.ParseInfo(info)["master_repl_offset"], 10, 64)
	var reached int64
	if err := pollUntil(ctx, catchUpTimeout, func() (bool, error) {
		info, err := a.Client(addr).Info(ctx, "replication").Result()
		if err != nil {
			return false, err
		}
		reached, _ = strconv.ParseInt(topology.ParseInfo(info)["slave_repl_offset"], 10, 64)
		return reached >= target, nil
	}); err != nil {
		return fmt.Errorf("graceful failover: the replica at %s read its paused master up to offset %d of %d: %w",
			addr, reached, target, err)
	}

	if err := a.Client(addr).Do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		return fmt.Errorf("CLUSTER FAILOVER TAKEOVER on %s: %w", addr, err)
	}
	tookOver = true
	// The former master turns replica when the new master's claim reaches it; until then it must
	// hold the writes, which it would lose on turning replica.
	if err := pollUntil(ctx, min(switchTimeout, manualFailoverTimeout-time.Since(pausedAt)-500*time.Millisecond), func() (bool, error) {
		return a.roleIs(ctx, addr, "master") && a.roleIs(ctx, line.Addr, "slave"), nil
	}); err != nil {
		return fmt.Errorf("graceful failover: after CLUSTER FAILOVER TAKEOVER on %s, the roles of it and %s did not switch: %w",
			addr, line.Addr, err)
	}
	tookOver = false // both agree: the held writes go to the new master
	return nil
}

// roleIs reports whether the node at addr answers ROLE with role ("master" or "slave").
func (a *Admin) roleIs(ctx context.Context, addr, role string) bool {
	reply, err := a.Client(addr).Do(ctx, "ROLE").Slice()
	return err == nil && len(reply) > 0 && reply[0] == role
}

// sameRanges reports whether a and b cover the same slots.
func sameRanges(a, b []topology.SlotRange) bool {
	var in [2][topology.SlotCount]bool
	for i, ranges := range [][]topology.SlotRange{a, b} {
		for _, r := range ranges {
			for s := r.Start; s <= r.End; s++ {
				in[i][s] = true
			}
		}
	}
	return in[0] == in[1]
}

// pollUntil calls cond every failoverPoll until it holds, it fails, or timeout passes.
func pollUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(failoverPoll):
		}
	}
}
