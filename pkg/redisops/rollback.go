package redisops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// returnPause bounds each write pause of the node keys go back from; it is renewed before every
// chunk, so a stopped operator leaves a pause of at most this long.
const returnPause = 10 * time.Second

// restoreWhileMigrating runs on the owner with the slot migrating: in one atomic step it stops
// migrating, writes each returning key it does not have (its own copy is the newest: it was
// written on it while migrating), and migrates again. No client ever sees the slot stable while
// a key of it is elsewhere. ARGV: slot, target id, then key, pttl, payload per key.
const restoreWhileMigrating = `
redis.call('CLUSTER', 'SETSLOT', ARGV[1], 'STABLE')
local ok, res = pcall(function()
  local n = 0
  for i = 3, #ARGV, 3 do
    if redis.call('EXISTS', ARGV[i]) == 0 then
      redis.call('RESTORE', ARGV[i], ARGV[i + 1], ARGV[i + 2])
      n = n + 1
    end
  end
  return n
end)
redis.call('CLUSTER', 'SETSLOT', ARGV[1], 'MIGRATING', ARGV[2])
if not ok then
  if type(res) == 'table' and res.err then return redis.error_reply(res.err) end
  return redis.error_reply(tostring(res))
end
return res`

// returnWhileOpen brings the keys of slot on from, the node the owner migrates it to, back to the
// owner while the slot stays open, so that ASK redirection finds each key where it is:
//   - from's client writes are paused (renewed per chunk), so no copy changes on it meanwhile;
//   - each chunk is read (DUMP) from from and written on the owner in one atomic step that keeps
//     the owner migrating (restoreWhileMigrating): a key is on from until it is on the owner;
//   - once every key is on the owner, the slot turns stable on both, then from resumes: a write
//     sent to it after an ASK is now redirected to the owner instead of changing a stale copy;
//   - the stale copies on from are dropped under a short import.
//
// It leaves the slot stable on the owner and on from.
func (a *Admin) returnWhileOpen(ctx context.Context, from, owner, ownerID, fromID string, slot int) (int, error) {
	pause := func() error {
		return a.Client(from).Do(ctx, "CLIENT", "PAUSE", returnPause.Milliseconds(), "WRITE").Err()
	}
	if err := pause(); err != nil {
		return 0, fmt.Errorf("pausing writes on %s: %w", from, err)
	}
	unpaused := false
	defer func() {
		if !unpaused {
			_ = a.Client(from).Do(context.WithoutCancel(ctx), "CLIENT", "UNPAUSE").Err()
		}
	}()
	n, err := a.CountKeysInSlot(ctx, from, slot)
	if err != nil {
		return 0, err
	}
	keys, err := a.Client(from).ClusterGetKeysInSlot(ctx, slot, int(n)).Result()
	if err != nil {
		return 0, fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", slot, from, err)
	}
	restored := 0
	for start := 0; start < len(keys); start += migrateBatchKeys {
		if err := pause(); err != nil {
			return restored, fmt.Errorf("pausing writes on %s: %w", from, err)
		}
		k, err := a.restoreChunk(ctx, from, owner, fromID, slot, keys[start:min(start+migrateBatchKeys, len(keys))])
		restored += k
		if err != nil {
			return restored, err
		}
	}
	if err := a.SetSlot(ctx, owner, slot, "STABLE", ""); err != nil {
		return restored, err
	}
	if err := a.SetSlot(ctx, from, slot, "STABLE", ""); err != nil {
		return restored, err
	}
	unpaused = true
	if err := a.Client(from).Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		return restored, fmt.Errorf("resuming writes on %s: %w", from, err)
	}
	return restored, a.dropStaleCopies(ctx, from, ownerID, slot, keys)
}

// restoreChunk copies keys from from (which imports slot: each read is ASKING) to the owner.
func (a *Admin) restoreChunk(ctx context.Context, from, owner, fromID string, slot int, keys []string) (int, error) {
	dumps := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.Cmd, len(keys))
	if _, err := a.Client(from).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			p.Do(ctx, "ASKING")
			dumps[i] = p.Dump(ctx, k)
			p.Do(ctx, "ASKING")
			ttls[i] = p.Do(ctx, "PTTL", k)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("reading keys of slot %d on %s: %w", slot, from, err)
	}
	args := []interface{}{"EVAL", restoreWhileMigrating, 0, slot, fromID}
	for i, k := range keys {
		payload, err := dumps[i].Result()
		if err != nil {
			continue // gone (expired before the pause)
		}
		ttl, _ := ttls[i].Int64()
		args = append(args, k, max(ttl, 0), payload)
	}
	cmdCtx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	n, err := a.slowClient(owner).Do(cmdCtx, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("writing %d keys of slot %d back on %s: %w", len(keys), slot, owner, err)
	}
	return n, nil
}

// dropStaleCopies deletes keys of slot, all now on its owner, from from: under an import from the
// owner, since from no longer serves the slot. The owner is stable and sends no client there.
func (a *Admin) dropStaleCopies(ctx context.Context, from, ownerID string, slot int, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := a.SetSlot(ctx, from, slot, "IMPORTING", ownerID); err != nil {
		return err
	}
	for start := 0; start < len(keys); start += migrateBatchKeys {
		if _, err := a.Client(from).Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[start:min(start+migrateBatchKeys, len(keys))] {
				p.Do(ctx, "ASKING")
				p.Del(ctx, k)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("dropping the copies of slot %d on %s: %w", slot, from, err)
		}
	}
	return a.SetSlot(ctx, from, slot, "STABLE", "")
}
