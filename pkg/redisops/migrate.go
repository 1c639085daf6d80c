package redisops

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Migrator moves slots between masters. The classic implementation below works on every Redis
// Cluster; servers with atomic slot migration (Valkey 9 CLUSTER MIGRATESLOTS, Redis 8.4 CLUSTER
// MIGRATION IMPORT) can have their own.
type Migrator interface {
	// MoveSlots moves slots from the master at source to the master at target and hands them
	// over on every master. It returns the slots fully moved, in order, even on error.
	MoveSlots(ctx context.Context, source, target Endpoint, slots []int, masters []string) ([]int, error)
}

// Endpoint is a master by address and node id.
type Endpoint struct {
	Addr string
	ID   string
}

// ClassicMigrator moves slots with SETSLOT IMPORTING/MIGRATING, MIGRATE ... KEYS and SETSLOT NODE.
// The per-slot state changes are pipelined over a batch of slots, so the node's config save that
// every SETSLOT triggers is paid once per batch rather than once per slot.
type ClassicMigrator struct {
	Admin *Admin
	// BatchSlots is how many slots are opened and handed over together (default 256).
	BatchSlots int
	// Progress, when set, is called after each batch with the slots done so far.
	Progress func(done int)
}

// MoveSlots implements Migrator. A slot is handed over only once the source holds no key of it;
// a failed MIGRATE stops the move with the slot still open, which RepairOpenSlot finishes or
// rolls back later without losing a key.
func (m *ClassicMigrator) MoveSlots(ctx context.Context, source, target Endpoint, slots []int, masters []string) ([]int, error) {
	batch := m.BatchSlots
	if batch <= 0 {
		batch = 256
	}
	var done []int
	for start := 0; start < len(slots); start += batch {
		chunk := slots[start:min(start+batch, len(slots))]
		if err := m.open(ctx, source, target, chunk); err != nil {
			return done, err
		}
		// While a slot is migrating, a key that still exists on the source is served and
		// written there, never on the target; a copy on the target can only be a stale one
		// from a RESTORE whose DEL was cut off. The source's copy is the newest: REPLACE.
		if _, err := m.Admin.MigrateSlotsKeys(ctx, source.Addr, target.Addr, chunk, true); err != nil {
			return done, fmt.Errorf("moving keys of slots %s: %w", SlotList(chunk), err)
		}
		if err := m.handOver(ctx, source, target, chunk, masters); err != nil {
			return done, err
		}
		done = append(done, chunk...)
		if m.Progress != nil {
			m.Progress(len(done))
		}
	}
	return done, nil
}

// open marks the slots importing on the target, then migrating on the source, one pipeline each.
func (m *ClassicMigrator) open(ctx context.Context, source, target Endpoint, slots []int) error {
	if err := m.Admin.SetSlots(ctx, target.Addr, slots, "IMPORTING", source.ID); err != nil {
		return err
	}
	return m.Admin.SetSlots(ctx, source.Addr, slots, "MIGRATING", target.ID)
}

// handOver assigns the emptied slots to the target: on the target first, so that a crash never
// leaves a slot without an owner, then on the source, then on every other master.
func (m *ClassicMigrator) handOver(ctx context.Context, source, target Endpoint, slots []int, masters []string) error {
	counts := make([]*redis.IntCmd, len(slots))
	_, err := m.Admin.Client(source.Addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, slot := range slots {
			counts[i] = p.ClusterCountKeysInSlot(ctx, slot)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting keys left on %s: %w", source.Addr, err)
	}
	for i, c := range counts {
		if c.Val() != 0 {
			return fmt.Errorf("slot %d still has %d keys on %s; not handing it over", slots[i], c.Val(), source.Addr)
		}
	}
	if err := m.Admin.SetSlots(ctx, target.Addr, slots, "NODE", target.ID); err != nil {
		return err
	}
	if err := m.Admin.SetSlots(ctx, source.Addr, slots, "NODE", target.ID); err != nil {
		return err
	}
	// The other masters would learn the new owner from gossip anyway; telling them saves a
	// redirect. One that has not met the target yet refuses, which is harmless.
	for _, addr := range masters {
		if addr == source.Addr || addr == target.Addr {
			continue
		}
		if err := m.Admin.SetSlots(ctx, addr, slots, "NODE", target.ID); err != nil && !strings.Contains(err.Error(), "Unknown node") {
			return err
		}
	}
	return nil
}
