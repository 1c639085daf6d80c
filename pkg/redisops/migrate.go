package redisops

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"redis-operator/pkg/redisops/topology"
)

// Endpoint is a master by address and node id.
type Endpoint struct {
	Addr string
	ID   string
	// Replica, when set, is the address of a replica of a target: a slot is handed over to the
	// target only once this replica has every key the target received, so no key exists once.
	Replica string
}

// moveBatchSlots is how many slots are opened and handed over together: every SETSLOT makes a
// node save its config, and pipelining a batch pays that once per batch rather than per slot.
const moveBatchSlots = 256

// MoveSlots moves slots from the master source to the master target with SETSLOT
// IMPORTING/MIGRATING, MIGRATE ... KEYS and SETSLOT NODE on every master, a batch of slots at a
// time, calling progress (when set) with the slots done after each batch. It returns the slots
// fully moved, in order, even on error.
//
// A slot is handed over only once the source, still its owner as a master, holds no key of it; a
// failed MIGRATE or a source that failed over stops the move with the slot still open, which
// RepairOpenSlot finishes or rolls back later without losing a key. A cancelled ctx stops the
// move between two batches, never inside one, so that no slot is left open by a stop.
func (a *Admin) MoveSlots(ctx context.Context, source, target Endpoint, slots []int, masters []string,
	progress func(done int)) ([]int, error) {
	return a.moveSlots(ctx, source, target, slots, masters, moveBatchSlots, progress)
}

func (a *Admin) moveSlots(ctx context.Context, source, target Endpoint, slots []int, masters []string,
	batch int, progress func(done int)) ([]int, error) {
	var done []int
	for start := 0; start < len(slots); start += batch {
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("stopped after %d of %d slots: %w", len(done), len(slots), err)
		}
		chunk := slots[start:min(start+batch, len(slots))]
		if err := a.moveBatch(context.WithoutCancel(ctx), source, target, chunk, masters); err != nil {
			return done, err
		}
		done = append(done, chunk...)
		if progress != nil {
			progress(len(done))
		}
	}
	return done, nil
}

// beforeHandOver, set only by tests, runs between a batch's keys moving and its hand-over: where a
// source can fail over mid-move.
var beforeHandOver func()

func (a *Admin) moveBatch(ctx context.Context, source, target Endpoint, slots []int, masters []string) error {
	// Importing on the target first: a source that migrates to a target that does not import
	// would send clients to a node that refuses them.
	if err := a.SetSlots(ctx, target.Addr, slots, "IMPORTING", source.ID); err != nil {
		return err
	}
	if err := a.SetSlots(ctx, source.Addr, slots, "MIGRATING", target.ID); err != nil {
		return err
	}
	// While a slot is migrating, a key that still exists on the source is served and written
	// there, never on the target; a copy on the target can only be a stale one from a RESTORE
	// whose DEL was cut off. The source's copy is the newest: REPLACE.
	if _, err := a.MigrateSlotsKeys(ctx, source.Addr, target.Addr, slots, true); err != nil {
		return fmt.Errorf("moving keys of slots %s: %w", topology.SlotList(slots), err)
	}
	if beforeHandOver != nil {
		beforeHandOver()
	}
	if target.Replica != "" {
		if err := a.waitReplicated(ctx, target.Addr, target.Replica); err != nil {
			return fmt.Errorf("not handing slots %s over: %w", topology.SlotList(slots), err)
		}
	}
	// handOver first confirms that the source still owns the slots, as a master, with no key left.
	return a.handOver(ctx, slots, target, source.Addr, masters)
}

// confirmSource fails unless the node at addr is a master that owns every slot of slots and holds
// none of their keys, all read in one pipeline. A source that failed over mid-move and lags as a
// replica counts 0 keys of slots its new master serves: handing those over would drop them.
func (a *Admin) confirmSource(ctx context.Context, addr string, slots []int) error {
	var nodes *redis.StringCmd
	counts := make([]*redis.IntCmd, len(slots))
	_, err := a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		nodes = p.ClusterNodes(ctx)
		for i, slot := range slots {
			counts[i] = p.ClusterCountKeysInSlot(ctx, slot)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading slots and keys of %s: %w", addr, err)
	}
	state := &topology.NodeState{Addr: addr}
	if state.Table, err = topology.ParseClusterNodes(nodes.Val()); err != nil {
		return err
	}
	self, ok := state.Self()
	if !ok {
		return fmt.Errorf("node %s has no line of its own", addr)
	}
	if !self.Master() {
		return fmt.Errorf("source %s is no longer a master (it replicates %s); not handing slots %s over",
			addr, self.MasterID, topology.SlotList(slots))
	}
	for i, slot := range slots {
		if owner := state.Owner(slot); owner != self.ID {
			return fmt.Errorf("source %s no longer owns slot %d (its table names %q); not handing it over",
				addr, slot, owner)
		}
		if n := counts[i].Val(); n != 0 {
			return fmt.Errorf("slot %d still has %d keys on %s; not handing it over", slot, n, addr)
		}
	}
	return nil
}
