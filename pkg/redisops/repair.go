package redisops

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"redis-operator/pkg/redisops/topology"
)

// Repair is what RepairOpenSlot did to one slot.
type Repair struct {
	Slot int
	// Finished is true when the move was completed, false when it was rolled back.
	Finished bool
	// Owner is the address of the slot's owner afterwards.
	Owner string
	// Keys counts the keys moved: forward when finished, back to the owner when rolled back.
	Keys int
	// LostWith names the unreachable node the slot was migrating to, when no replica of it
	// gave back any key: keys it had received may be gone with it.
	LostWith string
	// OutOfMemory says the move was rolled back because its target refused keys at maxmemory.
	OutOfMemory bool
}

// RepairOpenSlot closes a slot left importing or migrating, never dropping a key. When the owner
// is migrating it to a node that is importing it, the move is finished; otherwise it is rolled
// back: keys that reached a non-owner go back to the owner and every node is told the slot is
// stable. owner is the address of the agreed owner.
func (a *Admin) RepairOpenSlot(ctx context.Context, view *topology.ClusterView, slot int, owner string) (Repair, error) {
	masters := view.MasterAddrs()
	ownerState := view.Nodes[owner]
	if ownerState == nil || ownerState.Err != nil {
		return Repair{}, fmt.Errorf("owner %s of slot %d is not reachable", owner, slot)
	}
	ownerSelf, _ := ownerState.Self()
	if target, ok := ownerSelf.Migrating[slot]; ok {
		if targetState := view.ByID()[target]; targetState != nil {
			if tSelf, _ := targetState.Self(); tSelf.Importing[slot] == ownerSelf.ID {
				// The owner's copy of a key is the newest while it migrates (see MoveSlots).
				moved, err := a.MigrateKeys(ctx, owner, targetState.Addr, slot, true)
				if IsOOM(err) {
					// Finishing would fail the same way every time: roll back instead.
					r, err := a.rollBack(ctx, view, slot, owner, ownerSelf.ID, masters, Endpoint{Addr: targetState.Addr, ID: tSelf.ID})
					r.OutOfMemory = true
					return r, err
				}
				if err != nil {
					return Repair{}, err
				}
				if replica := LinkedReplica(view, tSelf.ID); replica != "" {
					if err := a.waitReplicated(ctx, targetState.Addr, replica); err != nil {
						return Repair{}, fmt.Errorf("not handing slot %d over: %w", slot, err)
					}
				}
				if err := a.handOver(ctx, []int{slot}, Endpoint{Addr: targetState.Addr, ID: tSelf.ID}, owner, masters); err != nil {
					return Repair{}, err
				}
				return Repair{Slot: slot, Finished: true, Owner: targetState.Addr, Keys: moved}, nil
			}
		}
	}
	target, migrating := ownerSelf.Migrating[slot]
	holder := openHolder(view, target)
	lost := migrating && view.ByID()[target] == nil
	if replica := replicaOf(view, target); lost && replica != "" {
		// The lost target's replica has the keys it received: it takes the target's place,
		// as a master, so that they come back from it.
		took, err := a.takeOverLost(ctx, replica, target)
		if err != nil {
			return Repair{}, err
		}
		if took {
			if holder, err = a.redirectTo(ctx, view, slot, owner, ownerSelf.ID, replica); err != nil {
				return Repair{}, err
			}
			masters, lost = append(masters, replica), false
		}
	}
	if lost && holder.Addr == "" {
		// A repair read the cluster after the replica took over (an operator restart): it is a
		// master holding keys of a slot it does not own.
		from, err := a.strayKeysHolder(ctx, view, slot, owner)
		if err != nil {
			return Repair{}, err
		}
		if from != "" {
			if holder, err = a.redirectTo(ctx, view, slot, owner, ownerSelf.ID, from); err != nil {
				return Repair{}, err
			}
		}
	}
	r, err := a.rollBack(ctx, view, slot, owner, ownerSelf.ID, masters, holder)
	// Keys came back from another master: the lost target's replica had them and took over.
	if lost && r.Keys == 0 {
		r.LostWith = target
	}
	return r, err
}

// replicaOf is the address of a reachable replica of the master id, or "".
func replicaOf(view *topology.ClusterView, id string) string {
	for _, st := range view.Reachable() {
		if self, ok := st.Self(); ok && !self.Master() && self.MasterID == id {
			return st.Addr
		}
	}
	return ""
}

// takeOverLost makes the replica at addr of the lost master lostID a master (CLUSTER FAILOVER
// TAKEOVER: it needs no vote) unless it already is one. The view it was found in may be old: a
// node that now replicates another master holds that master's data, not the lost one's, and a
// takeover would take a live master's slots, maybe before its first sync ended. It is left
// alone (took is false).
func (a *Admin) takeOverLost(ctx context.Context, addr, lostID string) (took bool, err error) {
	now := a.fetchNode(ctx, addr)
	if now.Err != nil {
		return false, now.Err
	}
	self, ok := now.Self()
	switch {
	case !ok:
		return false, fmt.Errorf("%s lists no line of its own", addr)
	case self.Master():
		return true, nil
	case self.MasterID != lostID:
		return false, nil
	}
	if err := a.Failover(ctx, addr, topology.FailoverTakeover); err != nil {
		return false, err
	}
	if err := pollUntil(ctx, switchTimeout, func() (bool, error) { return a.roleIs(ctx, addr, "master"), nil }); err != nil {
		return false, fmt.Errorf("after CLUSTER FAILOVER TAKEOVER, %s is not a master: %w", addr, err)
	}
	return true, nil
}

// strayKeysHolder is the address of a reachable master other than the owner that holds keys of
// slot without owning it, or "".
func (a *Admin) strayKeysHolder(ctx context.Context, view *topology.ClusterView, slot int, owner string) (string, error) {
	for _, st := range view.Reachable() {
		self, _ := st.Self()
		if st.Addr == owner || !self.Master() || st.Owner(slot) == self.ID {
			continue
		}
		n, err := a.CountKeysInSlot(ctx, st.Addr, slot)
		if err != nil {
			return "", err
		}
		if n > 0 {
			return st.Addr, nil
		}
	}
	return "", nil
}

// openHolder is the node the owner migrates slot to, target, when it answers as a master: the
// keys it received come back from it with the slot open. Zero otherwise.
func openHolder(view *topology.ClusterView, target string) Endpoint {
	state := view.ByID()[target]
	if state == nil || state.Err != nil {
		return Endpoint{}
	}
	if self, _ := state.Self(); !self.Master() {
		return Endpoint{}
	}
	return Endpoint{Addr: state.Addr, ID: target}
}

// redirectTo makes the owner migrate slot to the node at addr, which took a lost target's place
// and holds the keys it received: clients asking the owner for one of them are sent there (ASK)
// until it is back, instead of writing a fresh key on the owner.
func (a *Admin) redirectTo(ctx context.Context, view *topology.ClusterView, slot int, owner, ownerID, addr string) (Endpoint, error) {
	self, ok := view.Nodes[addr].Self()
	if !ok {
		return Endpoint{}, fmt.Errorf("no id known for %s", addr)
	}
	if err := a.SetSlot(ctx, addr, slot, "IMPORTING", ownerID); err != nil {
		return Endpoint{}, err
	}
	// The owner learns of the takeover by gossip; until then it refuses a target it sees as a
	// replica.
	var refused error
	err := pollUntil(ctx, switchTimeout, func() (bool, error) {
		err := a.SetSlot(ctx, owner, slot, "MIGRATING", self.ID)
		if err != nil && strings.Contains(err.Error(), "not a master") {
			refused = err
			return false, nil
		}
		return err == nil, err
	})
	if err != nil && refused != nil {
		err = fmt.Errorf("%w: %w", refused, err)
	}
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Addr: addr, ID: self.ID}, nil
}

// rollBack returns the keys of slot that reached other masters to its owner and marks the slot
// stable everywhere it is open. holder, when set, is the node the owner migrates slot to.
func (a *Admin) rollBack(ctx context.Context, view *topology.ClusterView, slot int, owner, ownerID string, masters []string, holder Endpoint) (Repair, error) {
	moved := 0
	returned := map[string]bool{}
	// The keys on the node the owner migrates to come back with the slot open, so that clients
	// find each where it is (see returnWhileOpen). That leaves the owner stable, as the MIGRATE
	// of keys from any other node needs: a migrating owner would redirect them back (ASK).
	if self, ok := view.Nodes[owner].Self(); ok {
		_, migrating := self.Migrating[slot]
		k, done, err := a.returnFromHolder(ctx, view, slot, owner, ownerID, holder)
		if err != nil {
			return Repair{}, err
		}
		if migrating && !done {
			if err := a.SetSlot(ctx, owner, slot, "STABLE", ""); err != nil {
				return Repair{}, err
			}
		}
		moved += k
	}
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
		if err := a.prepareReturn(ctx, view.Nodes[m], slot, ownerID); err != nil {
			return Repair{}, err
		}
		// The owner must accept keys of its own slot: it does, as the owner. Its own copy of
		// a key wins: it was written after the move was given up.
		k, err := a.returnKeys(ctx, m, owner, slot)
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
		if _, mig := self.Migrating[slot]; mig || self.Importing[slot] != "" || returned[m] || m == holder.Addr {
			if err := a.SetSlot(ctx, m, slot, "STABLE", ""); err != nil {
				return Repair{}, err
			}
		}
	}
	return Repair{Slot: slot, Owner: owner, Keys: moved}, nil
}

// returnFromHolder returns the keys of slot on holder, the node the owner migrates it to, with
// the slot kept open; done is false when there is no holder or it has none.
func (a *Admin) returnFromHolder(ctx context.Context, view *topology.ClusterView, slot int, owner, ownerID string, holder Endpoint) (int, bool, error) {
	if holder.Addr == "" {
		return 0, false, nil
	}
	n, err := a.CountKeysInSlot(ctx, holder.Addr, slot)
	if err != nil || n == 0 {
		return 0, false, err
	}
	if err := a.prepareReturn(ctx, view.Nodes[holder.Addr], slot, ownerID); err != nil {
		return 0, false, err
	}
	k, err := a.returnWhileOpen(ctx, holder.Addr, owner, ownerID, holder.ID, slot)
	return k, err == nil, err
}

// returnKeys moves the keys of slot from the node at from back to its owner without REPLACE: a
// key the owner also has is the owner's newer copy, and the one on from is dropped.
func (a *Admin) returnKeys(ctx context.Context, from, owner string, slot int) (int, error) {
	moved := 0
	for range maxReturnRounds {
		n, err := a.MigrateKeys(ctx, from, owner, slot, false)
		moved += n
		if !IsBusyKey(err) {
			return moved, err
		}
		if err := a.dropKeysOwnerHas(ctx, from, owner, slot); err != nil {
			return moved, err
		}
	}
	return moved, fmt.Errorf("keys of slot %d on %s kept meeting copies on its owner %s", slot, from, owner)
}

// maxReturnRounds bounds how often a return meets keys the owner already has (a round drops a
// thousand of them).
const maxReturnRounds = 10_000

// dropKeysOwnerHas deletes from the node at from (which imports slot, so each command is ASKING)
// the keys of slot that the owner also has.
func (a *Admin) dropKeysOwnerHas(ctx context.Context, from, owner string, slot int) error {
	keys, err := a.Client(from).ClusterGetKeysInSlot(ctx, slot, migrateBatchKeys).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", slot, from, err)
	}
	exists := make([]*redis.IntCmd, len(keys))
	if _, err := a.Client(owner).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			exists[i] = p.Exists(ctx, k)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("EXISTS on %s: %w", owner, err)
	}
	_, err = a.Client(from).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			if exists[i].Val() == 1 {
				p.Do(ctx, "ASKING")
				p.Del(ctx, k)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dropping keys of slot %d its owner has from %s: %w", slot, from, err)
	}
	return nil
}

// prepareReturn readies a non-owner holding keys of slot to MIGRATE them to the owner: Redis
// runs MIGRATE on a node that does not own the slot only while the slot is open there, and only
// when the node knows a live owner. An importing node ignores ownership announced by gossip, so
// after its source failed over it may still name the dead source; it is told the owner.
func (a *Admin) prepareReturn(ctx context.Context, state *topology.NodeState, slot int, ownerID string) error {
	if state == nil || state.Err != nil {
		return fmt.Errorf("node holding keys of slot %d is not reachable", slot)
	}
	self, _ := state.Self()
	if state.Owner(slot) != ownerID {
		if err := a.SetSlot(ctx, state.Addr, slot, "NODE", ownerID); err != nil {
			return err
		}
	}
	if _, migrating := self.Migrating[slot]; migrating || self.Importing[slot] != "" {
		return nil
	}
	return a.SetSlot(ctx, state.Addr, slot, "IMPORTING", ownerID)
}
