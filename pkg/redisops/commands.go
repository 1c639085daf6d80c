package redisops

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"

	"redis-operator/pkg/redisops/topology"
)

// Meet makes the node at addr handshake with the node at ip:port (cluster bus on busPort).
func (a *Admin) Meet(ctx context.Context, addr, ip string, port, busPort int) error {
	err := a.Client(addr).Do(ctx, "CLUSTER", "MEET", ip, strconv.Itoa(port), strconv.Itoa(busPort)).Err()
	if err != nil {
		return fmt.Errorf("CLUSTER MEET %s:%d on %s: %w", ip, port, addr, err)
	}
	return nil
}

// AddSlots gives ranges to the node at addr, first giving it the config epoch epoch when that is
// not 0 (see SetConfigEpoch).
func (a *Admin) AddSlots(ctx context.Context, addr string, ranges []topology.SlotRange, epoch int64) error {
	if epoch != 0 {
		if err := a.SetConfigEpoch(ctx, addr, epoch); err != nil {
			return err
		}
	}
	return a.AddSlotsRange(ctx, addr, ranges)
}

// AddSlotsRange assigns ranges to the node at addr.
func (a *Admin) AddSlotsRange(ctx context.Context, addr string, ranges []topology.SlotRange) error {
	if len(ranges) == 0 {
		return nil
	}
	args := []interface{}{"CLUSTER", "ADDSLOTSRANGE"}
	for _, r := range ranges {
		args = append(args, r.Start, r.End)
	}
	if err := a.Client(addr).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("CLUSTER ADDSLOTSRANGE %v on %s: %w", topology.FormatRanges(ranges), addr, err)
	}
	return nil
}

// SetConfigEpoch gives a node that has no config epoch and knows no other node the epoch epoch
// (CLUSTER SET-CONFIG-EPOCH), as a new cluster's masters get distinct ones before they meet.
func (a *Admin) SetConfigEpoch(ctx context.Context, addr string, epoch int64) error {
	if err := a.Client(addr).Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", epoch).Err(); err != nil {
		return fmt.Errorf("CLUSTER SET-CONFIG-EPOCH %d on %s: %w", epoch, addr, err)
	}
	return nil
}

// ClaimSlots makes the node of state the owner of ranges that no live master serves. Slots its
// table leaves free take one ADDSLOTSRANGE; where its table still names a former owner, which
// Redis keeps until a newer claim, SETSLOT NODE overrides it. The node then takes the newest
// config epoch, so that every other node prefers its claim to a stale one.
func (a *Admin) ClaimSlots(ctx context.Context, state *topology.NodeState, ranges []topology.SlotRange) error {
	self, ok := state.Self()
	if !ok {
		return fmt.Errorf("node %s has no line of its own", state.Addr)
	}
	var free []topology.SlotRange
	var taken []int
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			if owner := state.Owner(s); owner != "" && owner != self.ID {
				taken = append(taken, s)
				continue
			}
			if k := len(free); k > 0 && free[k-1].End == s-1 {
				free[k-1].End = s
			} else {
				free = append(free, topology.SlotRange{Start: s, End: s})
			}
		}
	}
	if err := a.AddSlotsRange(ctx, state.Addr, free); err != nil {
		return err
	}
	if err := a.SetSlots(ctx, state.Addr, taken, "NODE", self.ID); err != nil {
		return err
	}
	if err := a.Client(state.Addr).Do(ctx, "CLUSTER", "BUMPEPOCH").Err(); err != nil {
		return fmt.Errorf("CLUSTER BUMPEPOCH on %s: %w", state.Addr, err)
	}
	return nil
}

// Replicate makes the node at addr a replica of masterID.
func (a *Admin) Replicate(ctx context.Context, addr, masterID string) error {
	if err := a.Client(addr).Do(ctx, "CLUSTER", "REPLICATE", masterID).Err(); err != nil {
		return fmt.Errorf("CLUSTER REPLICATE %s on %s: %w", masterID, addr, err)
	}
	return nil
}

// Forget removes node id from the node at addr's table (for 60 seconds of gossip).
func (a *Admin) Forget(ctx context.Context, addr, id string) error {
	if err := a.Client(addr).Do(ctx, "CLUSTER", "FORGET", id).Err(); err != nil {
		return fmt.Errorf("CLUSTER FORGET %s on %s: %w", id, addr, err)
	}
	return nil
}

// ForgetEverywhere sends CLUSTER FORGET id to every reachable node of view that knows it, all at
// once, so that gossip from a node that still knows it does not bring it back.
func (a *Admin) ForgetEverywhere(ctx context.Context, view *topology.ClusterView, id string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(view.Nodes))
	for _, s := range view.Reachable() {
		if self, _ := s.Self(); self.ID == id {
			continue
		}
		if _, known := s.Peer(id); !known {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Forget(ctx, s.Addr, id); err != nil && !IsUnknownNode(err) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// CountKeysInSlot is the number of keys of slot held by the node at addr.
func (a *Admin) CountKeysInSlot(ctx context.Context, addr string, slot int) (int64, error) {
	n, err := a.Client(addr).ClusterCountKeysInSlot(ctx, slot).Result()
	if err != nil {
		return 0, fmt.Errorf("CLUSTER COUNTKEYSINSLOT %d on %s: %w", slot, addr, err)
	}
	return n, nil
}

// SetSlot runs CLUSTER SETSLOT slot <state> [id] on the node at addr; state is IMPORTING,
// MIGRATING, NODE or STABLE.
func (a *Admin) SetSlot(ctx context.Context, addr string, slot int, state, id string) error {
	args := []interface{}{"CLUSTER", "SETSLOT", slot, state}
	if id != "" {
		args = append(args, id)
	}
	if err := a.Client(addr).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("CLUSTER SETSLOT %d %s %s on %s: %w", slot, state, id, addr, err)
	}
	return nil
}

// SetSlots sends CLUSTER SETSLOT <slot> <state> <id> for every slot in one pipeline. A node that
// turned replica (an emptied master can be) answers that SETSLOT is only for masters; that is fine.
func (a *Admin) SetSlots(ctx context.Context, addr string, slots []int, state, id string) error {
	return a.setSlots(ctx, addr, slots, state, id, true)
}

// setSlots is SetSlots; replicaOK false makes a replica's refusal an error.
func (a *Admin) setSlots(ctx context.Context, addr string, slots []int, state, id string, replicaOK bool) error {
	cmds, err := a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, slot := range slots {
			p.Do(ctx, "CLUSTER", "SETSLOT", slot, state, id)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	for i, c := range cmds {
		if e := c.Err(); e != nil && !(replicaOK && IsNotMaster(e)) {
			return fmt.Errorf("CLUSTER SETSLOT %d %s %s on %s: %w", slots[i], state, id, addr, e)
		}
	}
	return nil
}

// PointOwner tells the node at addr that ownerID owns slots. Redis ignores ownership gossip for a
// slot it imports, so a node left importing may name a dead owner until told.
func (a *Admin) PointOwner(ctx context.Context, addr string, slots []int, ownerID string) error {
	return a.SetSlots(ctx, addr, slots, "NODE", ownerID)
}

// handOver assigns slots to target on every master: on the target first, so that a crash never
// leaves a slot without an owner, then on the source (when not empty), then on every other
// master. The others would learn it from gossip anyway; telling them saves a redirect, and one
// that has not met the target yet refuses, which is harmless.
//
// It first confirms on the source that it still owns the slots as a master and holds none of
// their keys (see confirmSource): the target's claim wins with a bumped epoch, so a wrong one
// takes the slots from their real owner.
func (a *Admin) handOver(ctx context.Context, slots []int, target Endpoint, source string, masters []string) error {
	if source != "" {
		if err := a.confirmSource(ctx, source, slots); err != nil {
			return err
		}
	}
	if err := a.SetSlots(ctx, target.Addr, slots, "NODE", target.ID); err != nil {
		return err
	}
	if source != "" {
		// Confirmed a master above: a refusal now means it lost the slots since.
		if err := a.setSlots(ctx, source, slots, "NODE", target.ID, false); err != nil {
			return err
		}
	}
	for _, addr := range masters {
		if addr == source || addr == target.Addr {
			continue
		}
		if err := a.SetSlots(ctx, addr, slots, "NODE", target.ID); err != nil && !IsUnknownNode(err) {
			return err
		}
	}
	return nil
}
