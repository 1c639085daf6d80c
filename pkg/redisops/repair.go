package redisops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
	return a.MigrateSlotsKeys(ctx, from, to, []int{slot}, replace)
}

// listSlots is how many slots one round lists keys of, bounding a round to 32,000 keys.
const listSlots = 32

// MigrateSlotsKeys is MigrateKeys for many slots with a few round trips per group of slots
// instead of a few per slot: the slots' key lists, the keys' sizes and the MIGRATE calls are
// each pipelined. Rounds repeat until every slot lists no key on from.
func (a *Admin) MigrateSlotsKeys(ctx context.Context, from, to string, slots []int, replace bool) (int, error) {
	host, portStr, err := net.SplitHostPort(to)
	if err != nil {
		return 0, err
	}
	port, _ := strconv.Atoi(portStr)
	moved := 0
	for start := 0; start < len(slots); start += listSlots {
		n, err := a.migrateGroup(ctx, from, host, port, slots[start:min(start+listSlots, len(slots))], replace)
		moved += n
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

func (a *Admin) migrateGroup(ctx context.Context, from, host string, port int, slots []int, replace bool) (int, error) {
	moved := 0
	for round := 0; len(slots) > 0; round++ {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		if round > 1_000_000 {
			return moved, errors.New("slots never emptied")
		}
		keys, busy, err := a.listKeys(ctx, from, slots)
		if err != nil {
			return moved, err
		}
		slots = busy
		var small []keyBatch
		for _, b := range sizedBatches(keys, a.keySizes(ctx, from, keys)) {
			if !b.big {
				small = append(small, b)
				continue
			}
			if err := a.migrate(ctx, from, host, port, b.keys, bigKeyTimeout, replace); err != nil {
				return moved, err
			}
			moved += len(b.keys)
		}
		n, err := a.migrateBatches(ctx, from, host, port, small, replace)
		moved += n
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// listKeys returns up to migrateBatchKeys keys of each slot on addr, grouped by slot, and the
// slots that had any.
func (a *Admin) listKeys(ctx context.Context, addr string, slots []int) ([][]string, []int, error) {
	lists := make([]*redis.StringSliceCmd, len(slots))
	_, err := a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, slot := range slots {
			lists[i] = p.ClusterGetKeysInSlot(ctx, slot, migrateBatchKeys)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("CLUSTER GETKEYSINSLOT on %s: %w", addr, err)
	}
	var keys [][]string
	var busy []int
	for i, l := range lists {
		if len(l.Val()) > 0 {
			keys = append(keys, l.Val())
			busy = append(busy, slots[i])
		}
	}
	return keys, busy, nil
}

// keySizes reads the MEMORY USAGE of every key on addr in one round trip, grouped like keys; a
// key whose size cannot be read counts as small.
func (a *Admin) keySizes(ctx context.Context, addr string, keys [][]string) [][]int64 {
	cmds := make([][]*redis.IntCmd, len(keys))
	_, _ = a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, slotKeys := range keys {
			for _, k := range slotKeys {
				cmds[i] = append(cmds[i], p.MemoryUsage(ctx, k, 0))
			}
		}
		return nil
	})
	sizes := make([][]int64, len(keys))
	for i := range cmds {
		for _, c := range cmds[i] {
			sizes[i] = append(sizes[i], c.Val())
		}
	}
	return sizes
}

// keyBatch is the keys of one MIGRATE call, all of one slot.
type keyBatch struct {
	keys  []string
	bytes int64
	big   bool // one key of at least migrateBatchBytes: it moves alone with a long timeout
}

// sizedBatches splits each slot's keys so that no batch's values exceed migrateBatchBytes.
func sizedBatches(keys [][]string, sizes [][]int64) []keyBatch {
	var out []keyBatch
	for i, slotKeys := range keys {
		var cur keyBatch
		for j, k := range slotKeys {
			size := sizes[i][j]
			if size >= migrateBatchBytes {
				out = append(out, keyBatch{keys: []string{k}, bytes: size, big: true})
				continue
			}
			if cur.bytes+size > migrateBatchBytes && len(cur.keys) > 0 {
				out = append(out, cur)
				cur = keyBatch{}
			}
			cur.keys = append(cur.keys, k)
			cur.bytes += size
		}
		if len(cur.keys) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

// migrateBatches sends small batches as pipelines of MIGRATE calls, each pipeline holding at
// most migrateBatchBytes of values so that it finishes within migrateTimeout.
func (a *Admin) migrateBatches(ctx context.Context, from, host string, port int, batches []keyBatch, replace bool) (int, error) {
	moved := 0
	for len(batches) > 0 {
		n, bytes := 0, int64(0)
		for n < len(batches) && (n == 0 || bytes+batches[n].bytes <= migrateBatchBytes) {
			bytes += batches[n].bytes
			n++
		}
		group := batches[:n]
		batches = batches[n:]
		cmdCtx, cancel := context.WithTimeout(ctx, migrateTimeout+5*time.Second)
		cmds, _ := a.slowClient(from).Pipelined(cmdCtx, func(p redis.Pipeliner) error {
			for _, b := range group {
				p.Do(cmdCtx, migrateArgs(host, port, b.keys, migrateTimeout, replace, a.password)...)
			}
			return nil
		})
		cancel()
		for i, c := range cmds {
			if err := migrateErr(c.Err()); err != nil {
				return moved, fmt.Errorf("MIGRATE %d keys from %s to %s:%d: %w", len(group[i].keys), from, host, port, err)
			}
			moved += len(group[i].keys)
		}
	}
	return moved, nil
}

func (a *Admin) migrate(ctx context.Context, from, host string, port int, keys []string, timeout time.Duration, replace bool) error {
	cmdCtx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	if err := migrateErr(a.slowClient(from).Do(cmdCtx, migrateArgs(host, port, keys, timeout, replace, a.password)...).Err()); err != nil {
		return fmt.Errorf("MIGRATE %d keys from %s to %s:%d: %w", len(keys), from, host, port, err)
	}
	return nil
}

func migrateArgs(host string, port int, keys []string, timeout time.Duration, replace bool, password string) []interface{} {
	args := []interface{}{"MIGRATE", host, port, "", 0, timeout.Milliseconds()}
	if replace {
		args = append(args, "REPLACE")
	}
	if password != "" {
		args = append(args, "AUTH", password)
	}
	args = append(args, "KEYS")
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// migrateErr is nil for NOKEY: the keys went away (expired or deleted) since they were listed.
func migrateErr(err error) error {
	if err != nil && strings.HasPrefix(err.Error(), "NOKEY") {
		return nil
	}
	return err
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
