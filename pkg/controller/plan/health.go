package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/topology"
)

// MaxConditionMessage bounds a condition's message, so that a large or badly split cluster's
// status still fits what the API server takes.
const MaxConditionMessage = 1024

// JoinBounded joins parts with "; " into at most limit bytes, ending with how many parts did not
// fit.
func JoinBounded(parts []string, limit int) string {
	if all := strings.Join(parts, "; "); len(all) <= limit {
		return all
	}
	more := func(n int) string {
		if n == 0 {
			return "..."
		}
		return fmt.Sprintf("; ... and %d more", n)
	}
	reserve := len(more(len(parts)))
	var b strings.Builder
	for i, p := range parts {
		sep := "; "
		if i == 0 {
			sep = ""
		}
		if b.Len()+len(sep)+len(p)+reserve <= limit {
			b.WriteString(sep + p)
			continue
		}
		if i == 0 {
			b.WriteString(p[:limit-reserve])
			i++
		}
		b.WriteString(more(len(parts) - i))
		break
	}
	return b.String()
}

// slotsLostMemory is how long Degraded keeps naming slots whose data was lost.
const slotsLostMemory = time.Hour

// clusterHealth is what status says of the live cluster.
type clusterHealth struct {
	nodes         []redisv1beta1.NodeStatus
	readyMasters  int32
	readyReplicas int32
	notReady      []string // why the cluster does not match the spec yet
	degraded      []string // lost redundancy
	nodesDown     int      // wanted nodes that do not answer while some master serves
	scaling       []string // what is being added, moved or removed
}

// assessCluster compares the live cluster with the spec. The cluster is Ready when every wanted
// node answers, counts the cluster ok, the wanted masters own all slots with their replicas
// linked, every node's own table agrees on the slots' owners and the replicas' masters, no slot
// is open, and the planner has nothing left to do.
//
// A node that does not answer keeps the identity previous recorded for its pod, so that the
// operator still knows a lost pod held a master.
func assessCluster(o *liveCluster, plan []Action, previous []redisv1beta1.NodeStatus) clusterHealth {
	var h clusterHealth
	last := map[string]redisv1beta1.NodeStatus{}
	for _, n := range previous {
		last[n.Pod] = n
	}
	nodes := o.reachable()
	byAddr := map[string]reachableMember{}
	for _, n := range nodes {
		byAddr[n.Addr()] = n
	}
	replicas := map[string]int32{}
	for _, n := range nodes {
		if !n.Self.Master() && n.State.LinkUp() {
			replicas[n.Self.MasterID]++
		}
	}
	missing := 0
	for _, m := range o.Members {
		st := redisv1beta1.NodeStatus{Pod: m.Pod, IP: m.IP, Port: int32(m.Port)}
		if n, ok := byAddr[m.Addr()]; ok {
			st.Ready = n.State.StateOK()
			st.NodeID = n.Self.ID
			st.Role = redisv1beta1.RoleReplica
			if n.Self.Master() {
				st.Role = redisv1beta1.RoleMaster
				st.Slots = topology.FormatRanges(n.Self.Slots)
				if len(n.Self.Slots) > 0 && n.State.StateOK() {
					h.readyMasters++
				}
			} else {
				st.MasterNodeID = n.Self.MasterID
				if n.State.LinkUp() {
					h.readyReplicas++
				}
			}
			if !n.State.StateOK() {
				h.notReady = append(h.notReady, fmt.Sprintf("node %d reports the cluster state %s", m.Index, n.State.ClusterState()))
			}
		} else {
			missing++
			if was, ok := last[m.Pod]; ok {
				st.Role, st.NodeID, st.MasterNodeID, st.Slots = was.Role, was.NodeID, was.MasterNodeID, was.Slots
				if st.IP == "" {
					st.IP = was.IP
				}
			}
		}
		h.nodes = append(h.nodes, st)
	}
	if missing > 0 {
		h.notReady = append(h.notReady, fmt.Sprintf("%d of %d Redis nodes are not reachable", missing, len(o.Members)))
		if h.readyMasters > 0 {
			h.nodesDown = missing
			h.degraded = append(h.degraded, fmt.Sprintf("%d Redis nodes are down", missing))
		}
	}
	h.degraded = append(h.degraded, awayOwners(o, nodes)...)
	for _, a := range plan {
		if w, ok := a.(WaitForData); ok {
			h.degraded = append(h.degraded, w.Why())
		}
	}
	if int(h.readyMasters) != o.Masters {
		h.notReady = append(h.notReady, fmt.Sprintf("%d of %d masters serve slots", h.readyMasters, o.Masters))
	}
	var lacking []string
	for _, n := range nodes {
		if n.Self.Master() && len(n.Self.Slots) > 0 && int(replicas[n.Self.ID]) < o.Replicas {
			lacking = append(lacking, fmt.Sprintf("node %d", n.Index))
		}
	}
	if len(lacking) > 0 {
		sort.Strings(lacking)
		msg := fmt.Sprintf("masters with fewer than %d linked replicas: %s", o.Replicas, strings.Join(lacking, ", "))
		h.notReady = append(h.notReady, msg)
		h.degraded = append(h.degraded, msg)
	}
	owners, _ := o.View.SlotOwners()
	for _, n := range nodes {
		if d := len(n.State.Disagreements(&owners)); d > 0 {
			h.notReady = append(h.notReady, fmt.Sprintf("node %d does not yet agree on the owner of %d slots", n.Index, d))
		}
	}
	// Clients that read from replicas learn them from whichever node they ask.
	replicaOf := o.View.ReplicaOf()
	for _, n := range nodes {
		if d := len(n.State.UnlistedReplicas(replicaOf)); d > 0 {
			h.notReady = append(h.notReady, fmt.Sprintf("node %d does not yet list %d of %d replicas with their masters", n.Index, d, len(replicaOf)))
		}
	}
	if open := o.View.OpenSlots(); len(open) > 0 {
		h.notReady = append(h.notReady, fmt.Sprintf("%d slots are open (importing or migrating)", len(open)))
	}
	for _, a := range plan {
		if _, bookkeeping := a.(LabelPod); bookkeeping {
			continue
		}
		h.notReady = append(h.notReady, a.Why())
		switch a.(type) {
		case MigrateSlots, RemoveNode, WaitForBackup:
			h.scaling = append(h.scaling, a.Why())
		}
	}
	extra := 0
	for _, m := range o.Members {
		if m.Extra && !o.isTemporary(m) {
			extra++
		}
	}
	if extra > 0 {
		msg := fmt.Sprintf("%d nodes above the wanted count are being removed", extra)
		h.notReady = append(h.notReady, msg)
		h.scaling = append(h.scaling, msg)
	}
	if h.readyMasters > 0 && int(h.readyMasters) != o.Masters {
		h.scaling = append(h.scaling, fmt.Sprintf("masters %d -> %d", h.readyMasters, o.Masters))
	}
	if o.temporaryAtWantedIndex() {
		h.scaling = append(h.scaling, fmt.Sprintf("the scale waits for the rolling update to end: its temporary node %d holds a wanted index", o.TemporaryIndex))
	}
	return h
}

// applyHealth writes h into status with the Ready, Degraded and Scaling conditions.
func applyHealth(status *redisv1beta1.RedisClusterStatus, generation int64, h clusterHealth, now time.Time) {
	status.Nodes = h.nodes
	status.ReadyMasters, status.ReadyReplicas = h.readyMasters, h.readyReplicas
	if len(h.notReady) == 0 {
		SetCondition(status, generation, redisv1beta1.ConditionReady, metav1.ConditionTrue, ReasonClusterHealthy,
			"all slots served by the wanted masters with their replicas")
		// A migration is over when the cluster is back in shape, repairs on the way included.
		if m := status.Migration; m != nil {
			m.CompletionTime = &metav1.Time{Time: now}
			status.LastMigration, status.Migration = m, nil
		}
	} else {
		SetCondition(status, generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonReconciling,
			JoinBounded(h.notReady, MaxConditionMessage))
	}
	reason := ReasonReplicasMissing
	if h.nodesDown > 0 {
		reason = ReasonNodesDown
	}
	SetDegraded(status, generation, reason, h.degraded, nil, now)
	if len(h.scaling) > 0 {
		SetCondition(status, generation, redisv1beta1.ConditionScaling, metav1.ConditionTrue, ReasonScaling, JoinBounded(h.scaling, MaxConditionMessage))
	} else {
		SetCondition(status, generation, redisv1beta1.ConditionScaling, metav1.ConditionFalse, ReasonNotScaling, "no scaling in progress")
	}
}

// SetDegraded reports lost redundancy; slots whose data was lost stay named for slotsLostMemory.
// reason is the Degraded reason of degraded.
func SetDegraded(status *redisv1beta1.RedisClusterStatus, generation int64, reason string, degraded, lostSlots []string, now time.Time) {
	if len(lostSlots) > 0 {
		SetCondition(status, generation, redisv1beta1.ConditionDegraded, metav1.ConditionTrue, ReasonSlotsLost,
			"slots lost their data (their master died with no replica): "+JoinBounded(lostSlots, MaxConditionMessage-70))
		return
	}
	if old := meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionDegraded); old != nil &&
		old.Reason == ReasonSlotsLost && now.Sub(old.LastTransitionTime.Time) < slotsLostMemory {
		return
	}
	switch {
	case len(degraded) > 0:
		SetCondition(status, generation, redisv1beta1.ConditionDegraded, metav1.ConditionTrue, reason, JoinBounded(degraded, MaxConditionMessage))
	default:
		SetCondition(status, generation, redisv1beta1.ConditionDegraded, metav1.ConditionFalse, ReasonFullyRedundant, "every master has its replicas")
	}
}

// awayOwners names the masters that own slots in some node's table but do not answer, with
// their slots: those slots are not served until the master or its replica is back.
func awayOwners(o *liveCluster, nodes []reachableMember) []string {
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Self.ID] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if live[peer.ID] || seen[peer.ID] || !peer.Master() || len(peer.Slots) == 0 {
				continue
			}
			seen[peer.ID] = true
			pod := "no pod"
			if m, ok := o.memberAt(peer.Addr); ok {
				pod = "pod " + m.Pod
			}
			out = append(out, fmt.Sprintf("slots %s of master %s (%s, was at %s) are not served until it or a replica answers",
				strings.Join(topology.FormatRanges(peer.Slots), ","), ShortID(peer.ID), pod, peer.Addr))
		}
	}
	sort.Strings(out)
	return out
}
