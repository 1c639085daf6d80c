package plan

import (
	"fmt"

	"redis-operator/pkg/redisops/topology"
)

// planBootstrap starts a new cluster from nodes that own no slots: the chosen masters take their
// share of the slots while still alone, and are introduced to each other afterwards (planMeet).
// In that order a master never sees a cluster whose masters own nothing, which Redis counts as
// being in a minority partition and answers with a rejoin delay of up to 5 seconds.
// Each master also gets a config epoch of its own while alone (as redis-cli does), so the
// cluster starts without the epoch collisions Redis would otherwise settle over some seconds.
func planBootstrap(o *liveCluster, nodes []reachableMember) []Action {
	var out []Action
	masters := chooseMasters(nodes, o.Masters)
	for i, r := range topology.EvenSplit(len(masters)) {
		a := AddSlots{Because: Because(fmt.Sprintf("assign slots %s to node %d", r, masters[i].Index)),
			Addr: masters[i].Addr(), Ranges: []topology.SlotRange{r}}
		// Redis takes a config epoch only from a node that has none and knows no other.
		if masters[i].Self.Epoch == 0 && len(masters[i].State.Table) == 1 {
			a.Epoch = int64(i) + 1
		}
		out = append(out, a)
	}
	return out
}

// planForget forgets node ids that are dead for sure: another node now answers at their address,
// or their address belongs to no wanted node and they are failed. A dead master that still owns
// slots is forgotten only when none of its replicas lives to take over.
func planForget(o *liveCluster, nodes []reachableMember, byID map[string]reachableMember, owners *slotOwners) []Action {
	wanted := map[string]bool{}
	for _, m := range o.Members {
		if a := m.Addr(); a != "" {
			wanted[a] = true
		}
	}
	liveAt := map[string]string{}
	for _, n := range nodes {
		liveAt[n.Addr()] = n.Self.ID
	}
	openWith := openPeers(nodes, owners, byID)
	seen := map[string]bool{}
	var out []Action
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if seen[peer.ID] || byID[peer.ID].State != nil {
				continue
			}
			seen[peer.ID] = true
			// A handshake entry has a temporary id of its own; Redis drops it when the handshake ends.
			replaced := !peer.Handshake() && peer.Addr != "" && liveAt[peer.Addr] != "" && liveAt[peer.Addr] != peer.ID
			gone := (peer.Addr == "" || !wanted[peer.Addr]) && (peer.Failed() || peer.NoAddr() || peer.Handshake())
			if !replaced && !gone {
				continue
			}
			if hasLiveReplica(nodes, peer.ID) {
				// A master's replica will be promoted; forgetting now would orphan the slots.
				// A replica also refuses to forget its own master: it is attached elsewhere first.
				continue
			}
			if m, ok := o.memberAt(peer.Addr); !replaced && ok && peer.Master() && len(peer.Slots) > 0 && m.mayReturnAs(peer.Addr) {
				continue // its data may come back: its slots wait for it
			}
			if openWith[peer.ID] {
				// Forgetting a node closes the slots open with it without moving a key: keys
				// already imported would stay behind on a node that does not own them.
				continue
			}
			was := peer.Addr
			if was == "" {
				was = "no address"
			}
			out = append(out, ForgetNode{Because(fmt.Sprintf("forget dead node %s (was at %s)", ShortID(peer.ID), was)), peer.ID})
		}
	}
	return out
}

// openPeers are the node ids some reachable node migrates a slot to or imports it from, for
// slots with a live owner that the repair step can close properly.
func openPeers(nodes []reachableMember, owners *slotOwners, byID map[string]reachableMember) map[string]bool {
	out := map[string]bool{}
	for _, n := range nodes {
		for s, id := range n.Self.Migrating {
			if _, live := byID[owners[s]]; live {
				out[id] = true
			}
		}
		for s, id := range n.Self.Importing {
			if _, live := byID[owners[s]]; live {
				out[id] = true
			}
		}
	}
	return out
}

// directMeetOwners is how many slot owners a new node meets itself at most; in a larger cluster
// one introduction and Redis' gossip do.
const directMeetOwners = 16

// planMeet introduces reachable nodes the cluster does not know (a new or replacement pod's fresh
// node) to the slot owners: directly to each when there are few, else through one of them.
func planMeet(nodes []reachableMember) []Action {
	var slotOwners []reachableMember
	for _, n := range nodes {
		if isSlotOwner(n) {
			slotOwners = append(slotOwners, n)
		}
	}
	if len(slotOwners) == 0 {
		return nil
	}
	anchor := slotOwners[0]
	var out []Action
	// A node known by id at another address (its pod moved to another host with its data) is
	// met at its new one by every node that has the old: the handshake updates the address.
	for _, n := range nodes {
		for _, other := range nodes {
			if peer, ok := other.State.Peer(n.Self.ID); ok && other.Self.ID != n.Self.ID && peer.Addr != n.Addr() {
				out = append(out, MeetNode{Because(fmt.Sprintf("meet node %d at its new address %s", n.Index, n.Addr())), other.Addr(), n.Member})
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, n := range nodes {
		if n.Self.ID == anchor.Self.ID || inTable(anchor, n) || n.knows(anchor.Self.ID) {
			continue
		}
		if len(n.State.Table) > 1 || len(slotOwners) > directMeetOwners {
			out = append(out, MeetNode{Because(fmt.Sprintf("introduce node %d to the cluster", n.Index)), anchor.Addr(), n.Member})
			continue
		}
		// A node that knows no one yet meets every slot owner itself: it hears each one's
		// slots in their first pings instead of through gossip, so it can say
		// the cluster ok as soon as Redis lets a master do so (2 s). Had it still missed
		// an owner by then, Redis would count it in a minority partition and hold it back
		// for another rejoin delay (up to 5 s).
		for _, m := range slotOwners {
			if m.Self.ID != n.Self.ID {
				out = append(out, MeetNode{Because(fmt.Sprintf("introduce node %d to slot owner %d", n.Index, m.Index)), n.Addr(), m.Member})
			}
		}
	}
	return out
}

// inTable reports whether anchor has n in its table, by id or, during the handshake, by address.
func inTable(anchor reachableMember, n reachableMember) bool {
	for _, peer := range anchor.State.Table {
		if peer.ID == n.Self.ID || peer.Addr == n.Addr() {
			return true
		}
	}
	return false
}
