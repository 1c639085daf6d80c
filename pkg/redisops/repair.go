package redisops

import (
	"context"
	"fmt"
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
// stable. owner is the address of the agreed owner.
func (a *Admin) RepairOpenSlot(ctx context.Context, view *ClusterView, slot int, owner string) (Repair, error) {
	masters := view.MasterAddrs()
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
				if err := a.handOver(ctx, []int{slot}, Endpoint{Addr: targetState.Addr, ID: tSelf.ID}, owner, masters); err != nil {
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

// prepareReturn readies a non-owner holding keys of slot to MIGRATE them to the owner: Redis
// runs MIGRATE on a node that does not own the slot only while the slot is open there, and only
// when the node knows a live owner. An importing node ignores ownership announced by gossip, so
// after its source failed over it may still name the dead source; it is told the owner.
func (a *Admin) prepareReturn(ctx context.Context, state *NodeState, slot int, ownerID string) error {
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
