package controller

import (
	"redis-operator/pkg/redisops/topology"
)

// action is one step of a plan. Each kind is a type of its own carrying what it needs; the
// executor switches on the type. Every action says why it is taken, for status and Events.
type action interface {
	why() string
}

// because is the reason every action carries.
type because string

func (b because) why() string { return string(b) }

// waitFor takes no step: Redis converges on its own, or something must happen first.
type waitFor struct{ because }

// waitForData waits for a node that does not answer but whose data may come back; the cluster
// is Degraded meanwhile.
type waitForData struct{ because }

// notEnoughMemory refuses moving slots: the masters receiving them would not hold the keys within
// their maxmemory. The cluster serves every key with the masters it has.
type notEnoughMemory struct{ because }

// meetNode makes the node at Addr handshake with Peer.
type meetNode struct {
	because
	Addr string
	Peer member
}

// addSlots gives a new cluster's master its share of the slots, with config epoch Epoch first
// when not 0.
type addSlots struct {
	because
	Addr   string
	Ranges []topology.SlotRange
	Epoch  int64
}

// claimLostSlots gives slots that lost their owner with its data to the master at Addr, empty.
type claimLostSlots struct {
	because
	Addr   string
	Ranges []topology.SlotRange
}

// replicate makes the node at Addr a replica of MasterID.
type replicate struct {
	because
	Addr     string
	MasterID string
}

// forgetNode removes the dead node ID from every node's table.
type forgetNode struct {
	because
	ID string
}

// failover makes the replica at Addr take over from its master MasterID: gracefully while the
// master answers, by force (or takeover without a vote) when it is gone.
type failover struct {
	because
	Addr     string
	MasterID string
	Mode     topology.FailoverMode
}

// pointOwner tells the node at Addr that OwnerID owns Slots, which it has open.
type pointOwner struct {
	because
	Addr    string
	OwnerID string
	Slots   []int
}

// repairSlot finishes or rolls back the open Slot, owned by the master at Owner.
type repairSlot struct {
	because
	Slot  int
	Owner string
}

// migrateSlots moves slots between masters; it runs as the cluster's task, off the worker.
type migrateSlots struct {
	because
	Moves []topology.SlotMove
}

// removeNode forgets Node (id ID), above the wanted count and owning nothing, and deletes its pod.
type removeNode struct {
	because
	Node member
	ID   string
}
