package controller

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"redis-operator/pkg/redisops"
)

// member is a node the cluster wants: its index, pod and, once the pod is ready, its address.
type member struct {
	Index int
	// Extra marks a node above the count the spec asks for: it is drained and removed.
	Extra bool
	Pod   string
	Host  string // the Kubernetes node the pod runs on
	IP    string
	Port  int
}

// Addr is the member's ip:port, empty before the pod has an address.
func (m member) Addr() string {
	if m.IP == "" {
		return ""
	}
	return m.IP + ":" + strconv.Itoa(m.Port)
}

// actionKind names what one planned step does.
type actionKind string

const (
	actMeet         actionKind = "meet"
	actAddSlots     actionKind = "addSlots"
	actReplicate    actionKind = "replicate"
	actForget       actionKind = "forget"
	actRepairSlot   actionKind = "repairSlot"
	actPointOwner   actionKind = "pointOwner" // tell a node with open slots who owns them
	actWait         actionKind = "wait"
	actAssignedLost actionKind = "assignLost" // addSlots for slots whose owner died with no replica
)

// action is one step of a plan. Fields are used as the kind needs them.
type action struct {
	Kind   actionKind
	Addr   string // the node the command goes to
	Target member // meet: whom to meet
	Ranges []redisops.SlotRange
	NodeID string // replicate: master id; forget: the id to forget
	Slot   int
	Slots  []int  // pointOwner: the slots whose owner is NodeID
	Owner  string // repairSlot: the owner's address
	Moves  []redisops.SlotMove
	Epoch  int64 // addSlots: the config epoch to give the node first; 0 for none
	Reason string
}

// plan is what the planner decided for one pass.
type plan struct {
	Actions []action
}

func (p *plan) add(a action) { p.Actions = append(p.Actions, a) }

// waits reports whether the plan waits for Redis to converge.
func (p *plan) waits() bool {
	for _, a := range p.Actions {
		if a.Kind == actWait {
			return true
		}
	}
	return false
}

// observed joins the wanted members with what every reachable one reports.
type observed struct {
	Members  []member
	View     *redisops.ClusterView
	Masters  int // wanted masters
	Replicas int // wanted replicas per master
	// LinkDownLimit is how long a replica's link may be down before it is re-pointed.
	LinkDownLimit int
	NodeTimeout   time.Duration
	Now           time.Time
}

// reachable returns the members whose node answered, with their own table line.
func (o *observed) reachable() []reachableMember {
	var out []reachableMember
	for _, m := range o.Members {
		if m.Addr() == "" {
			continue
		}
		state := o.View.Nodes[m.Addr()]
		if state == nil || state.Err != nil {
			continue
		}
		self, ok := state.Self()
		if !ok {
			continue
		}
		out = append(out, reachableMember{member: m, State: state, Self: self})
	}
	return out
}

type reachableMember struct {
	member
	State *redisops.NodeState
	Self  redisops.NodeView
}

// knows reports whether node r has id in its table as a full member.
func (r reachableMember) knows(id string) bool {
	n, ok := r.State.Peer(id)
	return ok && n.Usable()
}

// planCluster decides the next steps that bring the live cluster to the wanted shape: meet
// nodes, assign slots nobody owns, forget dead node ids, repair open slots, and attach replicas.
// It is pure: everything it knows is in o.
func planCluster(o *observed) plan {
	var p plan
	nodes := o.reachable()
	if len(nodes) == 0 {
		p.add(action{Kind: actWait, Reason: "no Redis node is reachable yet"})
		return p
	}
	byID := map[string]reachableMember{}
	for _, n := range nodes {
		byID[n.Self.ID] = n
	}
	owners := agreedOwners(nodes)
	assigned := 0
	for _, id := range owners {
		if id != "" {
			assigned++
		}
	}

	// A new cluster: wait for every node, introduce them, then split the slots.
	if assigned == 0 {
		if len(nodes) < len(o.Members) {
			p.add(action{Kind: actWait, Reason: fmt.Sprintf("%d of %d Redis nodes are running", len(nodes), len(o.Members))})
			return p
		}
		return planBootstrap(o, nodes)
	}

	if forgets := planForget(o, nodes, byID, owners); len(forgets) > 0 {
		p.Actions = forgets
		return p
	}
	if meets := planMeet(nodes); len(meets) > 0 {
		p.Actions = meets
		return p
	}
	if repairs := planRepair(nodes, owners, byID); len(repairs) > 0 {
		p.Actions = repairs
		return p
	}
	if lost := planUnownedSlots(o, nodes, owners, byID); len(lost) > 0 {
		p.Actions = lost
		return p
	}
	if scale := planScale(o, nodes, owners); len(scale) > 0 {
		p.Actions = scale
		return p
	}
	if remove := planRemove(nodes); len(remove) > 0 {
		p.Actions = remove
		return p
	}
	p.Actions = planReplicas(o, nodes, owners, byID)
	return p
}

// agreedOwners maps each slot to the id of the reachable master claiming it in its own line.
func agreedOwners(nodes []reachableMember) [redisops.SlotCount]string {
	var owners [redisops.SlotCount]string
	for _, n := range nodes {
		if !n.Self.Master() {
			continue
		}
		for _, r := range n.Self.Slots {
			for s := r.Start; s <= r.End; s++ {
				owners[s] = n.Self.ID
			}
		}
	}
	return owners
}

// planBootstrap starts a new cluster from nodes that own no slots: the chosen masters take their
// share of the slots while still alone, and are introduced to each other afterwards (planMeet).
// In that order a master never sees a cluster whose masters own nothing, which Redis counts as
// being in a minority partition and answers with a rejoin delay of up to 5 seconds.
// Each master also gets a config epoch of its own while alone (as redis-cli does), so the
// cluster starts without the epoch collisions Redis would otherwise settle over some seconds.
func planBootstrap(o *observed, nodes []reachableMember) plan {
	var p plan
	masters := chooseMasters(nodes, o.Masters)
	for i, r := range redisops.EvenSplit(len(masters)) {
		a := action{Kind: actAddSlots, Addr: masters[i].Addr(), Ranges: []redisops.SlotRange{r},
			Reason: fmt.Sprintf("assign slots %s to node %d", r, masters[i].Index)}
		// Redis takes a config epoch only from a node that has none and knows no other.
		if masters[i].Self.Epoch == 0 && len(masters[i].State.Table) == 1 {
			a.Epoch = int64(i) + 1
		}
		p.add(a)
	}
	return p
}

// chooseMasters picks n masters among nodes, taking one per Kubernetes node in turn so that the
// masters spread over hosts, by node index within a host.
func chooseMasters(nodes []reachableMember, n int) []reachableMember {
	byHost := map[string][]reachableMember{}
	var hosts []string
	for _, node := range nodes {
		if _, ok := byHost[node.Host]; !ok {
			hosts = append(hosts, node.Host)
		}
		byHost[node.Host] = append(byHost[node.Host], node)
	}
	sort.Strings(hosts)
	var out []reachableMember
	for len(out) < n && len(out) < len(nodes) {
		for _, h := range hosts {
			if len(byHost[h]) > 0 && len(out) < n {
				out = append(out, byHost[h][0])
				byHost[h] = byHost[h][1:]
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// planForget forgets node ids that are dead for sure: another node now answers at their address,
// or their address belongs to no wanted node and they are failed. A dead master that still owns
// slots is forgotten only when none of its replicas lives to take over.
func planForget(o *observed, nodes []reachableMember, byID map[string]reachableMember, owners [redisops.SlotCount]string) []action {
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
	var out []action
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if seen[peer.ID] || byID[peer.ID].State != nil {
				continue
			}
			seen[peer.ID] = true
			// A handshake entry has a temporary id of its own; Redis drops it when the handshake ends.
			replaced := !peer.Flags["handshake"] && peer.Addr != "" && liveAt[peer.Addr] != "" && liveAt[peer.Addr] != peer.ID
			gone := (peer.Addr == "" || !wanted[peer.Addr]) && (peer.Failed() || peer.Flags["noaddr"] || peer.Flags["handshake"])
			if !replaced && !gone {
				continue
			}
			if peer.Master() && len(peer.Slots) > 0 && hasLiveReplica(nodes, peer.ID) {
				continue // its replica will be promoted; forgetting now would orphan the slots
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
			out = append(out, action{Kind: actForget, NodeID: peer.ID,
				Reason: fmt.Sprintf("forget dead node %s (was at %s)", short(peer.ID), was)})
		}
	}
	return out
}

// openPeers are the node ids some reachable node migrates a slot to or imports it from, for
// slots with a live owner that the repair step can close properly.
func openPeers(nodes []reachableMember, owners [redisops.SlotCount]string, byID map[string]reachableMember) map[string]bool {
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

func hasLiveReplica(nodes []reachableMember, masterID string) bool {
	for _, n := range nodes {
		if !n.Self.Master() && n.Self.MasterID == masterID {
			return true
		}
	}
	return false
}

// directMeetOwners is how many slot owners a new node meets itself at most; in a larger cluster
// one introduction and Redis' gossip do.
const directMeetOwners = 16

// planMeet introduces reachable nodes the cluster does not know (a new or replacement pod's fresh
// node) to the slot owners: directly to each when there are few, else through one of them.
func planMeet(nodes []reachableMember) []action {
	var slotOwners []reachableMember
	for _, n := range nodes {
		if n.Self.Master() && len(n.Self.Slots) > 0 {
			slotOwners = append(slotOwners, n)
		}
	}
	if len(slotOwners) == 0 {
		return nil
	}
	anchor := slotOwners[0]
	var out []action
	for _, n := range nodes {
		if n.Self.ID == anchor.Self.ID || inTable(anchor, n) || n.knows(anchor.Self.ID) {
			continue
		}
		if len(n.State.Table) > 1 || len(slotOwners) > directMeetOwners {
			out = append(out, action{Kind: actMeet, Addr: anchor.Addr(), Target: n.member,
				Reason: fmt.Sprintf("introduce node %d to the cluster", n.Index)})
			continue
		}
		// A node that knows no one yet meets every slot owner itself: it hears each one's
		// slots in their first pings instead of through gossip, so it can say
		// cluster_state:ok as soon as Redis lets a master do so (2 s). Had it still missed
		// an owner by then, Redis would count it in a minority partition and hold it back
		// for another rejoin delay (up to 5 s).
		for _, m := range slotOwners {
			if m.Self.ID != n.Self.ID {
				out = append(out, action{Kind: actMeet, Addr: n.Addr(), Target: m.member,
					Reason: fmt.Sprintf("introduce node %d to slot owner %d", n.Index, m.Index)})
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

// planRepair closes slots left importing or migrating.
func planRepair(nodes []reachableMember, owners [redisops.SlotCount]string, byID map[string]reachableMember) []action {
	open := map[int]bool{}
	for _, n := range nodes {
		for s := range n.Self.Migrating {
			open[s] = true
		}
		for s := range n.Self.Importing {
			open[s] = true
		}
	}
	var slots []int
	for s := range open {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	if point := planPointOwners(nodes, owners, byID, slots); len(point) > 0 {
		return point
	}
	var out []action
	for _, s := range slots {
		owner, ok := byID[owners[s]]
		if !ok {
			continue // no live owner: the unowned-slot step gives it one first
		}
		out = append(out, action{Kind: actRepairSlot, Slot: s, Owner: owner.Addr(),
			Reason: fmt.Sprintf("repair open slot %d", s)})
	}
	return out
}

// planPointOwners tells a node with open slots which live master owns them, where its table
// names another (or none). Redis ignores ownership gossip for a slot it imports, so after the
// source of a migration fails over, the target keeps the dead source as owner and counts the
// cluster down, refusing the MIGRATE that would return its keys. One action per node and owner.
func planPointOwners(nodes []reachableMember, owners [redisops.SlotCount]string, byID map[string]reachableMember, open []int) []action {
	var out []action
	for _, n := range nodes {
		if !n.Self.Master() {
			continue
		}
		wrong := map[string][]int{}
		for _, s := range open {
			_, migrating := n.Self.Migrating[s]
			if !migrating && n.Self.Importing[s] == "" {
				continue
			}
			owner, live := byID[owners[s]]
			if !live || owner.Self.ID == n.Self.ID || redisops.TableOwner(n.State, s) == owner.Self.ID {
				continue
			}
			wrong[owner.Self.ID] = append(wrong[owner.Self.ID], s)
		}
		ids := make([]string, 0, len(wrong))
		for id := range wrong {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			slots := wrong[id]
			out = append(out, action{Kind: actPointOwner, Addr: n.Addr(), NodeID: id, Slots: slots,
				Reason: fmt.Sprintf("tell node %d that node %d owns %d open slots", n.Index, byID[id].Index, len(slots))})
		}
	}
	return out
}

// planUnownedSlots gives slots without a live owner to a node: empty masters first (a replacement
// of a master lost with no replica), else the master with the fewest slots. Such slots' data is
// gone; the action says so.
func planUnownedSlots(o *observed, nodes []reachableMember, owners [redisops.SlotCount]string, byID map[string]reachableMember) []action {
	// A slot is unowned only when no reachable node's table gives it to a node that did not
	// answer: such an owner may merely be slow. A live master's own line is the truth about its
	// slots; others' tables may keep a claim it gave up, which Redis corrects only on a newer one.
	var claimed [redisops.SlotCount]bool
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if _, live := byID[peer.ID]; live {
				continue
			}
			for _, r := range peer.Slots {
				for s := r.Start; s <= r.End; s++ {
					claimed[s] = true
				}
			}
		}
	}
	unowned := redisops.RangesOf(func(s int) bool { return owners[s] == "" && !claimed[s] })
	if len(unowned) == 0 {
		return waitForDeadOwners(nodes, owners, byID)
	}
	var empty, holders []reachableMember
	for _, n := range nodes {
		switch {
		case n.Self.Master() && len(n.Self.Slots) == 0 && !n.Extra:
			empty = append(empty, n)
		case n.Self.Master():
			holders = append(holders, n)
		}
	}
	masters := 0
	for _, n := range holders {
		if len(n.Self.Slots) > 0 {
			masters++
		}
	}
	var receivers []reachableMember
	if need := o.Masters - masters; need > 0 && len(empty) > 0 {
		receivers = chooseMasters(empty, need)
	} else if len(holders) > 0 {
		sort.Slice(holders, func(i, j int) bool {
			return redisops.CountSlots(holders[i].Self.Slots) < redisops.CountSlots(holders[j].Self.Slots)
		})
		receivers = holders[:1]
	} else {
		return []action{{Kind: actWait, Reason: "no master to take the unowned slots"}}
	}
	chunks := splitRanges(unowned, len(receivers))
	var out []action
	for i, r := range receivers {
		if len(chunks[i]) == 0 {
			continue
		}
		out = append(out, action{Kind: actAssignedLost, Addr: r.Addr(), Ranges: chunks[i],
			Reason: fmt.Sprintf("assign unowned slots %v to node %d", redisops.FormatRanges(chunks[i]), r.Index)})
	}
	return out
}

// waitForDeadOwners waits while slots belong to a master that does not answer: its replica may
// take over, or it may come back.
func waitForDeadOwners(nodes []reachableMember, owners [redisops.SlotCount]string, byID map[string]reachableMember) []action {
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if _, live := byID[peer.ID]; live || !peer.Master() || len(peer.Slots) == 0 {
				continue
			}
			if hasLiveReplica(nodes, peer.ID) {
				return []action{{Kind: actWait, Reason: fmt.Sprintf("waiting for a replica of failed master %s to take over", short(peer.ID))}}
			}
			return []action{{Kind: actWait, Reason: fmt.Sprintf("waiting for master %s, which owns slots, to answer", short(peer.ID))}}
		}
	}
	return nil
}

// splitRanges divides the slots of ranges into n parts of near-equal size, in order.
func splitRanges(ranges []redisops.SlotRange, n int) [][]redisops.SlotRange {
	total := redisops.CountSlots(ranges)
	out := make([][]redisops.SlotRange, n)
	part, taken := 0, 0
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			for part < n-1 && taken >= (part+1)*total/n {
				part++
			}
			if k := len(out[part]); k > 0 && out[part][k-1].End == s-1 {
				out[part][k-1].End = s
			} else {
				out[part] = append(out[part], redisops.SlotRange{Start: s, End: s})
			}
			taken++
		}
	}
	return out
}

// planReplicas attaches slot-less masters and orphaned replicas to the masters lacking replicas,
// moves a replica from a master with too many to one with none, and re-points replicas whose link
// stays down.
func planReplicas(o *observed, nodes []reachableMember, owners [redisops.SlotCount]string, byID map[string]reachableMember) []action {
	replicasOf := map[string][]reachableMember{}
	var masters, free []reachableMember
	for _, n := range nodes {
		switch {
		case n.Self.Master() && len(n.Self.Slots) > 0:
			masters = append(masters, n)
		case n.Extra:
			continue // about to be removed
		case n.Self.Master():
			free = append(free, n)
		default:
			if _, ok := byID[n.Self.MasterID]; ok && isSlotOwner(byID[n.Self.MasterID]) {
				replicasOf[n.Self.MasterID] = append(replicasOf[n.Self.MasterID], n)
			} else {
				free = append(free, n) // its master is gone or owns nothing
			}
		}
	}
	if len(masters) == 0 {
		return nil
	}
	var out []action
	var joined []reachableMember
	for _, n := range free {
		knowsAll := true
		for _, m := range masters {
			knowsAll = knowsAll && n.knows(m.Self.ID)
		}
		if knowsAll {
			joined = append(joined, n)
		} else {
			out = append(out, action{Kind: actWait, Reason: fmt.Sprintf("node %d is still joining the cluster", n.Index)})
		}
	}
	free = joined
	for len(free) > 0 {
		r, m := bestReplicaPair(free, masters, replicasOf)
		out = append(out, action{Kind: actReplicate, Addr: free[r].Addr(), NodeID: masters[m].Self.ID,
			Reason: fmt.Sprintf("make node %d a replica of node %d", free[r].Index, masters[m].Index)})
		replicasOf[masters[m].Self.ID] = append(replicasOf[masters[m].Self.ID], free[r])
		free = append(free[:r], free[r+1:]...)
	}
	if len(out) > 0 {
		return out
	}
	// Rebalance after failovers: a master with no replica takes one from a master with extra.
	for _, m := range masters {
		if len(replicasOf[m.Self.ID]) > 0 {
			continue
		}
		for _, donor := range masters {
			if reps := replicasOf[donor.Self.ID]; len(reps) > max(o.Replicas, 1) {
				r := pickMovableReplica(reps, m.Host)
				out = append(out, action{Kind: actReplicate, Addr: r.Addr(), NodeID: m.Self.ID,
					Reason: fmt.Sprintf("move replica node %d to node %d, which has none", r.Index, m.Index)})
				return out
			}
		}
	}
	for _, reps := range replicasOf {
		for _, r := range reps {
			down, _ := strconv.Atoi(r.State.Replication["master_link_down_since_seconds"])
			if !r.State.LinkUp() && o.LinkDownLimit > 0 && down > o.LinkDownLimit {
				out = append(out, action{Kind: actReplicate, Addr: r.Addr(), NodeID: r.Self.MasterID,
					Reason: fmt.Sprintf("re-point replica node %d, its link is down for %ds", r.Index, down)})
			}
		}
	}
	return out
}

func isSlotOwner(n reachableMember) bool { return n.Self.Master() && len(n.Self.Slots) > 0 }

// bestReplicaPair picks the next replica to attach and its master: masters with the fewest
// replicas first, a master on another Kubernetes node than the replica where possible, and the
// replica with the fewest such choices first, so that greedy choices do not strand the last
// replica on its master's host.
func bestReplicaPair(free, masters []reachableMember, replicasOf map[string][]reachableMember) (int, int) {
	fewest := -1
	for _, m := range masters {
		if n := len(replicasOf[m.Self.ID]); fewest < 0 || n < fewest {
			fewest = n
		}
	}
	options := func(r reachableMember) int {
		n := 0
		for _, m := range masters {
			if len(replicasOf[m.Self.ID]) == fewest && m.Host != r.Host {
				n++
			}
		}
		return n
	}
	bestR, bestM := -1, -1
	var bestKey [4]int
	for i, r := range free {
		opts := options(r)
		for j, m := range masters {
			if len(replicasOf[m.Self.ID]) != fewest {
				continue
			}
			sameHost := 0
			if m.Host == r.Host {
				sameHost = 1
			}
			key := [4]int{sameHost, opts, r.Index, m.Index}
			if bestR < 0 || lessKey(key, bestKey) {
				bestR, bestM, bestKey = i, j, key
			}
		}
	}
	return bestR, bestM
}

func lessKey(a, b [4]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// pickMovableReplica prefers a replica not on host.
func pickMovableReplica(reps []reachableMember, host string) reachableMember {
	for _, r := range reps {
		if r.Host != host {
			return r
		}
	}
	return reps[0]
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
