package redisops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Key batches of MIGRATE: many keys per call, but a call is also cut at batchBytes of values so one
// call cannot block a node for long; a key bigger than that moves alone with a long timeout.
const (
	migrateBatchKeys  = 1000
	migrateBatchBytes = 8 << 20
	migrateTimeout    = 10 * time.Second
	bigKeyTimeout     = 120 * time.Second
)

// MigrateKeys moves every key of slot from the node at from to the node at to (ip:port) with
// MIGRATE ... KEYS in batches, until from holds none. replace overwrites a key that exists on
// both sides; it is only safe when the source's copy is the one to keep.
func (a *Admin) MigrateKeys(ctx context.Context, from, to string, slot int, replace bool) (int, error) {
	host, portStr, err := net.SplitHostPort(to)
	if err != nil {
		return 0, err
	}
	port, _ := strconv.Atoi(portStr)
	client := a.Client(from)
	moved := 0
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		keys, err := client.ClusterGetKeysInSlot(ctx, slot, migrateBatchKeys).Result()
		if err != nil {
			return moved, fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", slot, from, err)
		}
		if len(keys) == 0 {
			return moved, nil
		}
		for _, batch := range a.sizedBatches(ctx, from, keys) {
			timeout := migrateTimeout
			if len(batch) == 1 {
				timeout = bigKeyTimeout
			}
			if err := a.migrate(ctx, from, host, port, batch, timeout, replace); err != nil {
				return moved, err
			}
			moved += len(batch)
		}
		if round > 1_000_000 {
			return moved, errors.New("slot never emptied")
		}
	}
}

// sizedBatches splits keys so that no batch's values exceed migrateBatchBytes; a key whose
// size cannot be read is assumed small.
func (a *Admin) sizedBatches(ctx context.Context, addr string, keys []string) [][]string {
	client := a.Client(addr)
	pipe := client.Pipeline()
	sizes := make([]func() int64, len(keys))
	for i, k := range keys {
		cmd := pipe.MemoryUsage(ctx, k, 0)
		sizes[i] = func() int64 { return cmd.Val() }
	}
	_, _ = pipe.Exec(ctx)
	var out [][]string
	var cur []string
	var bytes int64
	for i, k := range keys {
		size := sizes[i]()
		if size >= migrateBatchBytes {
			out = append(out, []string{k})
			continue
		}
		if bytes+size > migrateBatchBytes && len(cur) > 0 {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, k)
		bytes += size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func (a *Admin) migrate(ctx context.Context, from, host string, port int, keys []string, timeout time.Duration, replace bool) error {
	args := []interface{}{"MIGRATE", host, port, "", 0, timeout.Milliseconds()}
	if replace {
		args = append(args, "REPLACE")
	}
	if a.password != "" {
		args = append(args, "AUTH", a.password)
	}
	args = append(args, "KEYS")
	for _, k := range keys {
		args = append(args, k)
	}
	cmdCtx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	err := a.Client(from).Do(cmdCtx, args...).Err()
	if err == nil || strings.HasPrefix(err.Error(), "NOKEY") {
		return nil
	}
	return fmt.Errorf("MIGRATE %d keys from %s to %s:%d: %w", len(keys), from, host, port, err)
}

// Repair is what RepairOpenSlot did to one slot.
type Repair struct {
	Slot int
	// Finished is true when the move was completed, false when it was rolled back.
	Finished bool
	// Owner is the address of the slot's owner afterwards.
	Owner string
	// Keys counts the keys moved: forward when finished, back to the owner when rolled back.
	Keys int
	// LostWith names the unreachable node the slot was migrating to: keys it had received
	// are gone with it.
	LostWith string
}

func (r Repair) String() string {
	if r.Finished {
		return fmt.Sprintf("finished moving slot %d to %s (%d keys)", r.Slot, r.Owner, r.Keys)
	}
	s := fmt.Sprintf("rolled slot %d back to its owner %s (%d keys returned)", r.Slot, r.Owner, r.Keys)
	if r.LostWith != "" {
		s += fmt.Sprintf("; keys already sent to node %s are lost with it", r.LostWith)
	}
	return s
}

// RepairOpenSlot closes a slot left importing or migrating, never dropping a key. When the owner
// is migrating it to a node that is importing it, the move is finished; otherwise it is rolled
// back: keys that reached a non-owner go back to the owner and every node is told the slot is
// stable. owner is the address of the agreed owner; masters are all reachable masters.
func (a *Admin) RepairOpenSlot(ctx context.Context, view *ClusterView, slot int, owner string, masters []string) (Repair, error) {
	ownerState := view.Nodes[owner]
	if ownerState == nil || ownerState.Err != nil {
		return Repair{}, fmt.Errorf("owner %s of slot %d is not reachable", owner, slot)
	}
	ownerSelf, _ := ownerState.Self()
	if target, ok := ownerSelf.Migrating[slot]; ok {
		if targetState := view.ByID()[target]; targetState != nil {
			if tSelf, _ := targetState.Self(); tSelf.Importing[slot] == ownerSelf.ID {
				// The owner's copy of a key is the newest while it migrates (see ClassicMigrator).
				moved, err := a.MigrateKeys(ctx, owner, targetState.Addr, slot, true)
				if err != nil {
					return Repair{}, err
				}
				if err := a.AssignSlot(ctx, slot, targetState.Addr, tSelf.ID, owner, masters); err != nil {
					return Repair{}, err
				}
				return Repair{Slot: slot, Finished: true, Owner: targetState.Addr, Keys: moved}, nil
			}
		}
	}
	moved := 0
	returned := map[string]bool{}
	for _, m := range masters {
		if m == owner {
			continue
		}
		n, err := a.CountKeysInSlot(ctx, m, slot)
		if err != nil {
			return Repair{}, err
		}
		if n == 0 {
			continue
		}
		if err := a.prepareReturn(ctx, view.Nodes[m], slot, ownerSelf.ID); err != nil {
			return Repair{}, err
		}
		// The owner must accept keys of its own slot: it does, as the owner.
		k, err := a.MigrateKeys(ctx, m, owner, slot, true)
		if err != nil {
			return Repair{}, err
		}
		moved += k
		returned[m] = true
	}
	for _, m := range masters {
		state := view.Nodes[m]
		if state == nil || state.Err != nil {
			continue
		}
		self, _ := state.Self()
		if _, mig := self.Migrating[slot]; mig || self.Importing[slot] != "" || returned[m] {
			if err := a.SetSlot(ctx, m, slot, "STABLE", ""); err != nil {
				return Repair{}, err
			}
		}
	}
	r := Repair{Slot: slot, Owner: owner, Keys: moved}
	if target, ok := ownerSelf.Migrating[slot]; ok && view.ByID()[target] == nil {
		r.LostWith = target
	}
	return r, nil
}

// AssignSlot hands slot to the node at target (id targetID): the target first, so that a crash
// never leaves the slot without an owner, then the source, then every other master.
func (a *Admin) AssignSlot(ctx context.Context, slot int, target, targetID, source string, masters []string) error {
	if err := a.SetSlot(ctx, target, slot, "NODE", targetID); err != nil {
		return err
	}
	if source != "" {
		if err := a.SetSlot(ctx, source, slot, "NODE", targetID); err != nil && !strings.Contains(err.Error(), "only with masters") {
			return err
		}
	}
	for _, m := range masters {
		if m == target || m == source {
			continue
		}
		if err := a.SetSlot(ctx, m, slot, "NODE", targetID); err != nil && !strings.Contains(err.Error(), "only with masters") {
			return err
		}
	}
	return nil
}

// prepareReturn readies a non-owner holding keys of slot to MIGRATE them to the owner: Redis
// runs MIGRATE on a node that does not own the slot only while the slot is open there, and only
// when the node knows a live owner. An importing node ignores ownership announced by gossip, so
// after its source failed over it may still name the dead source; it is told the owner.
func (a *Admin) prepareReturn(ctx context.Context, state *NodeState, slot int, ownerID string) error {
	if state == nil || state.Err != nil {
		return fmt.Errorf("node holding keys of slot %d is not reachable", slot)
	}
	self, _ := state.Self()
	if TableOwner(state, slot) != ownerID {
		if err := a.SetSlot(ctx, state.Addr, slot, "NODE", ownerID); err != nil {
			return err
		}
	}
	if _, migrating := self.Migrating[slot]; migrating || self.Importing[slot] != "" {
		return nil
	}
	return a.SetSlot(ctx, state.Addr, slot, "IMPORTING", ownerID)
}

// TableOwner is the id of the master that state's node believes serves slot, empty if none.
func TableOwner(state *NodeState, slot int) string {
	for _, peer := range state.Table {
		if !peer.Master() {
			continue
		}
		for _, r := range peer.Slots {
			if slot >= r.Start && slot <= r.End {
				return peer.ID
			}
		}
	}
	return ""
}
