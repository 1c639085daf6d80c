package redisops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"redis-operator/pkg/redisops/topology"
)

// The estimate's cost is bounded: every slot asked is counted (one cheap command each, in
// pipelines of countBatch); up to keysPerFullSlot keys of each of the fullestSlots and one key
// of each of up to spreadSlots others are sized with MEMORY USAGE, 1,024 keys at most.
const (
	countBatch        = 1024
	fullestSlots      = 64
	keysPerFullSlot   = 8
	spreadSlots       = 512
	slotMemoryTimeout = 10 * time.Second
)

// SlotMemory estimates the memory the keys of slots take on the node at addr, from each slot's
// key count and the sizes (MEMORY USAGE, and whether it expires) of keys sampled from the
// fullest slots and from a spread of the others (topology.SlotMemory).
func (a *Admin) SlotMemory(ctx context.Context, addr string, slots []int) (topology.SlotMemory, error) {
	ctx, cancel := context.WithTimeout(ctx, slotMemoryTimeout)
	defer cancel()
	client := a.Client(addr)
	counts := make(map[int]int64, len(slots))
	for start := 0; start < len(slots); start += countBatch {
		batch := slots[start:min(start+countBatch, len(slots))]
		cmds := make([]*redis.IntCmd, len(batch))
		if _, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, slot := range batch {
				cmds[i] = p.ClusterCountKeysInSlot(ctx, slot)
			}
			return nil
		}); err != nil {
			return topology.SlotMemory{}, fmt.Errorf("CLUSTER COUNTKEYSINSLOT on %s: %w", addr, err)
		}
		for i, slot := range batch {
			counts[slot] = cmds[i].Val()
		}
	}

	full, spread := topology.SlotsToSample(counts, fullestSlots, spreadSlots)
	fullSizes, err := a.sampleKeys(ctx, addr, full, keysPerFullSlot)
	if err != nil {
		return topology.SlotMemory{}, err
	}
	spreadSizes, err := a.sampleKeys(ctx, addr, spread, 1)
	if err != nil {
		return topology.SlotMemory{}, err
	}
	var typical []int64
	for _, sizes := range spreadSizes {
		typical = append(typical, sizes...)
	}
	est := topology.EstimateSlotMemory(counts, fullSizes, typical)
	if est.Keys > 0 && est.Sampled == 0 {
		return topology.SlotMemory{}, fmt.Errorf("no key of %d sized on %s", est.Keys, addr)
	}
	return est, nil
}

// sampleKeys sizes up to perSlot keys of each slot on addr (topology.SampledKeyBytes), by slot.
func (a *Admin) sampleKeys(ctx context.Context, addr string, slots []int, perSlot int) (map[int][]int64, error) {
	client := a.Client(addr)
	lists := make([]*redis.StringSliceCmd, len(slots))
	if _, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, slot := range slots {
			lists[i] = p.ClusterGetKeysInSlot(ctx, slot, perSlot)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("CLUSTER GETKEYSINSLOT on %s: %w", addr, err)
	}
	type keyCmds struct {
		usage *redis.IntCmd
		ttl   *redis.DurationCmd
	}
	cmds := make([][]keyCmds, len(slots))
	_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, l := range lists {
			for _, key := range l.Val() {
				cmds[i] = append(cmds[i], keyCmds{p.MemoryUsage(ctx, key), p.PTTL(ctx, key)})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // a key deleted since it was listed is nil
		return nil, fmt.Errorf("MEMORY USAGE on %s: %w", addr, err)
	}
	sizes := map[int][]int64{}
	for i, slot := range slots {
		for _, c := range cmds[i] {
			if c.usage.Err() == nil {
				sizes[slot] = append(sizes[slot], topology.SampledKeyBytes(c.usage.Val(), c.ttl.Val() > 0))
			}
		}
	}
	return sizes, nil
}
