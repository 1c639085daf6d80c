package plan

import (
	"redis-operator/pkg/redisops/conf"

	"redis-operator/pkg/redisops/topology"
)

// Action is one step of a plan. Each kind is a type of its own carrying what it needs; the
// executor switches on the type. Every action says why it is taken, for status and Events.
type Action interface {
	Why() string
}

// Because is the reason every action carries.
type Because string

func (b Because) Why() string { return string(b) }

// WaitFor takes no step: Redis converges on its own, or something must happen first.
type WaitFor struct{ Because }

// WaitForData waits for a node that does not answer but whose data may come back; the cluster
// is Degraded meanwhile.
type WaitForData struct{ Because }

// NotEnoughMemory refuses moving slots: the masters receiving them would not hold the keys within
// their maxmemory. The cluster serves every key with the masters it has.
type NotEnoughMemory struct{ Because }

// MeetNode makes the node at Addr handshake with Peer.
type MeetNode struct {
	Because
	Addr string
	Peer Member
}

// AddSlots gives a new cluster's master its share of the slots, with config epoch Epoch first
// when not 0.
type AddSlots struct {
	Because
	Addr   string
	Ranges []topology.SlotRange
	Epoch  int64
}

// ClaimLostSlots gives slots that lost their owner with its data to the master at Addr, empty.
type ClaimLostSlots struct {
	Because
	Addr   string
	Ranges []topology.SlotRange
}

// Replicate makes the node at Addr a replica of MasterID.
type Replicate struct {
	Because
	Addr     string
	MasterID string
}

// ForgetNode removes the dead node ID from every node's table.
type ForgetNode struct {
	Because
	ID string
}

// Failover makes the replica at Addr take over from its master MasterID: gracefully while the
// master answers, by force (or takeover without a vote) when it is gone.
type Failover struct {
	Because
	Addr     string
	MasterID string
	Mode     topology.FailoverMode
}

// PointOwner tells the node at Addr that OwnerID owns Slots, which it has open.
type PointOwner struct {
	Because
	Addr    string
	OwnerID string
	Slots   []int
}

// RepairSlot finishes or rolls back the open Slot, owned by the master at Owner.
type RepairSlot struct {
	Because
	Slot  int
	Owner string
}

// MigrateSlots moves slots between masters; it runs as the cluster's task, off the worker.
type MigrateSlots struct {
	Because
	Moves []topology.SlotMove
}

// RemoveNode forgets Node (id ID), above the wanted count and owning nothing, and deletes its pod.
type RemoveNode struct {
	Because
	Node Member
	ID   string
}

// ApplySettings sets the live settings on the running node, makes the exporter's user
// log in with MonitorPassword, makes its other ACL users exactly Users and records Hash, and
// what ACL LIST then says, on its pod.
type ApplySettings struct {
	Because
	Node            Member
	Settings        map[string]string
	MonitorPassword string
	Users           []conf.User
	Hash            string
}

// ReloadCertificate has a TLS node load the node-certificate Secret's files of Version: it
// runs others. They appear in its volume a short while after the Secret changed; until they
// do, the node cannot load them and keeps what it had.
type ReloadCertificate struct {
	Because
	Node Member
	// From is the version of the files the node runs, "" for those it started with.
	From, Version string
}

// ApplyPassword moves the node to Password. First (Drop false) it takes Password besides the
// ones before (without a password: any) and gives its master MasterAuth, which that master
// takes throughout; once every node got that far (Drop true), it gives its master Password and
// takes only Password. Version is recorded on its pod.
type ApplyPassword struct {
	Because
	Node       Member
	Password   string
	MasterAuth string
	Drop       bool
	Version    string
}

// ReplacePod deletes a node's pod built from an older spec; it is created again from the
// current one. Only replicas and slot-less nodes are replaced. Claim, when set, is the node's
// claim of another storage class, deleted too so that the node comes back on a new one. Toward,
// when set, are the empty domains the new pod is meant for: the pod is replaced to spread shards.
type ReplacePod struct {
	Because
	Node   Member
	Claim  string
	Toward []string
}

// AddTemporaryNode creates the pod of the temporary node at Index: a replica for a shard that
// has none, so that its master can hand its role over before its pod is replaced.
type AddTemporaryNode struct {
	Because
	Index int
}

// LabelPod sets (or, for an empty value, removes) labels on a node's pod.
type LabelPod struct {
	Because
	Pod    string
	Labels map[string]string
}
