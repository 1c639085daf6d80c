package redisops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
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
		password := a.passwordFor(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
		cmdCtx, cancel := context.WithTimeout(ctx, migrateTimeout+5*time.Second)
		cmds, _ := a.slowClient(from).Pipelined(cmdCtx, func(p redis.Pipeliner) error {
			for _, b := range group {
				p.Do(cmdCtx, migrateArgs(host, port, b.keys, migrateTimeout, replace, password)...)
			}
			return nil
		})
		cancel()
		for i, c := range cmds {
			if err := c.Err(); err != nil {
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
	password := a.passwordFor(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
	if err := a.slowClient(from).Do(cmdCtx, migrateArgs(host, port, keys, timeout, replace, password)...).Err(); err != nil {
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
		// AUTH2 as the default user: a target without a password accepts it, legacy AUTH errs.
		args = append(args, "AUTH2", "default", password)
	}
	args = append(args, "KEYS")
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}
