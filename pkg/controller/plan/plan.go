package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"redis-operator/pkg/redisops/topology"
)

// Member is a node the cluster wants: its index, pod and, once the pod is ready, its address.
type Member struct {
	Index int
	// Extra marks a node above the count the spec asks for: it is drained and removed.
	Extra  bool
	Pod    string
	Node   string // the Kubernetes node the pod runs on
	Domain string // its failure domain (the node, or its zone with a zone topology key)
	IP     string
	Port   int
	// PodIP is the address of the member's pod, ready or not; ClaimKept says its data claim
	// exists (with persistence).
	PodIP     string
	ClaimKept bool
	// Outdated says the member's pod was built from an older spec, Current from this one; a
	// Member without a pod, or whose pod is going away, is neither.
	Outdated, Current bool
}

// mayReturnAs reports whether the node once at addr may come back with its data: its claim
// outlives pods, or, without persistence, the pod holding the data still stands at addr (a
// new pod elsewhere starts empty).
func (m Member) mayReturnAs(addr string) bool {
	return m.ClaimKept || (m.PodIP != "" && m.PodIP+":"+strconv.Itoa(m.Port) == addr)
}

// Addr is the member's ip:port, empty before the pod has an address.
func (m Member) Addr() string {
	if m.IP == "" {
		return ""
	}
	return m.IP + ":" + strconv.Itoa(m.Port)
}

// liveCluster joins the wanted members with what every reachable one reports.
type liveCluster struct {
	Members  []Member
	View     *topology.ClusterView
	Masters  int // wanted masters
	Replicas int // wanted replicas per master
	// LinkDownLimit is how long (seconds) a replica's link may be down before it is re-pointed.
	LinkDownLimit int
	NodeTimeout   time.Duration
	Now           time.Time
	// RestoreSlots are, by node index, the slots of the backup's shard a restore put on the
	// node: unowned slots go back where the backup had them.
	RestoreSlots map[int][]topology.SlotRange
	// Migrating are the node ids the running migration moves slots between.
	Migrating map[string]bool
	// TemporaryIndex is the index of the node a rolling update adds as a shard's replica while
	// its master's pod is replaced; NoTemporary says why it cannot be added, if so.
	TemporaryIndex int
	NoTemporary    string
	// LeavingNodes are the Kubernetes nodes being emptied (see Leaving).
	LeavingNodes map[string]bool
	// EmptyDomains are the failure domains with a schedulable node and no pod of the cluster,
	// but for those that refused a pod replaced to spread shards; SpreadRefused says which.
	EmptyDomains  []string
	SpreadRefused string
	// SlotMemory is what the keys of the slots a scale would move take, nil when not read.
	SlotMemory *topology.SlotMemory
}

// memberAt returns the member whose port addr has: a node's port is fixed by its index.
func (o *liveCluster) memberAt(addr string) (Member, bool) {
	_, port, ok := strings.Cut(addr, ":")
	for _, m := range o.Members {
		if ok && strconv.Itoa(m.Port) == port {
			return m, true
		}
	}
	return Member{}, false
}

// reachable returns the members whose node answered, with their own table line.
func (o *liveCluster) reachable() []reachableMember {
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
		out = append(out, reachableMember{Member: m, State: state, Self: self})
	}
	return out
}

type reachableMember struct {
	Member
	State *topology.NodeState
	Self  topology.NodeView
}

// knows reports whether node r has id in its table as a full member.
func (r reachableMember) knows(id string) bool {
	n, ok := r.State.Peer(id)
	return ok && n.Usable()
}

func isSlotOwner(n reachableMember) bool { return n.Self.Master() && len(n.Self.Slots) > 0 }

// slotOwners maps each slot to the id of the master that claims it in its own line.
type slotOwners = [topology.SlotCount]string

// planCluster decides the next steps that bring the live cluster to the wanted shape: forget
// dead node ids, meet nodes, repair open slots, assign slots nobody owns, spread the slots over
// the wanted masters, remove nodes above the wanted count, then attach replicas; the first of
// these with anything to do is the plan. While the cluster's migration task runs (busy), only
// steps that cannot interfere with it are planned: meeting new nodes and attaching replicas.
// It is pure: everything it knows is in o.
func planCluster(o *liveCluster, busy bool) []Action {
	nodes := o.reachable()
	if len(nodes) == 0 {
		return []Action{WaitFor{"no Redis node is reachable yet"}}
	}
	byID := map[string]reachableMember{}
	for _, n := range nodes {
		byID[n.Self.ID] = n
	}
	owners, _ := o.View.SlotOwners()
	assigned := 0
	for _, id := range owners {
		if id != "" {
			assigned++
		}
	}

	// A new cluster: wait for every node, introduce them, then split the slots.
	if assigned == 0 && !busy {
		if len(nodes) < len(o.Members) {
			return []Action{WaitFor{Because(fmt.Sprintf("%d of %d Redis nodes are running", len(nodes), len(o.Members)))}}
		}
		return planBootstrap(o, nodes)
	}
	steps := []func() []Action{
		func() []Action { return planForget(o, nodes, byID, &owners) },
		func() []Action { return planMeet(nodes) },
		func() []Action { return planRepair(o, nodes, &owners, byID) },
		func() []Action { return planUnownedSlots(o, nodes, &owners, byID) },
		func() []Action { return planHandOver(nodes) },
		func() []Action { return planScale(o, nodes, &owners) },
		func() []Action { return planRemove(o, nodes) },
		func() []Action { return planReplicas(o, nodes, byID) },
	}
	if busy {
		steps = []func() []Action{
			func() []Action { return planMeet(nodes) },
			func() []Action { return planReplicas(o, nodes, byID) },
		}
	}
	for _, step := range steps {
		if p := step(); len(p) > 0 {
			return p
		}
	}
	return nil
}

// chooseMasters picks n masters among nodes, taking one per Kubernetes node in turn so that the
// masters spread over hosts, by node index within a host.
func chooseMasters(nodes []reachableMember, n int) []reachableMember {
	byHost := map[string][]reachableMember{}
	var hosts []string
	for _, node := range nodes {
		if _, ok := byHost[node.Domain]; !ok {
			hosts = append(hosts, node.Domain)
		}
		byHost[node.Domain] = append(byHost[node.Domain], node)
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

func hasLiveReplica(nodes []reachableMember, masterID string) bool {
	for _, n := range nodes {
		if !n.Self.Master() && n.Self.MasterID == masterID {
			return true
		}
	}
	return false
}

func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
