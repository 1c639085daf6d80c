package plan

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/topology"
)

// caughtUpBytes is how far a replica's offset may trail its master's and still count as caught
// up: the two are read a moment apart while writes go on.
const caughtUpBytes = 4 << 20

// rolling reports whether pods of wanted nodes were built from an older spec.
func (o *liveCluster) rolling() bool {
	for _, m := range o.Members {
		if m.Outdated && !m.Extra {
			return true
		}
	}
	return false
}

// temporaryAtWantedIndex reports whether a scale-out made the temporary node's index a wanted one:
// the new node at that index comes once the roll is over and the temporary node is removed.
func (o *liveCluster) temporaryAtWantedIndex() bool {
	return o.TemporaryIndex < o.Masters*(1+o.Replicas)
}

// isTemporary reports whether m is the temporary node the roll keeps.
func (o *liveCluster) isTemporary(m Member) bool {
	return m.Extra && m.Index == o.TemporaryIndex && o.rolling()
}

// planRoll replaces the pods built from an older spec one at a time, once the cluster is in
// shape (the planner has nothing else to do and no migration runs): shard by shard, replicas
// first; a master hands its role to its most up-to-date current replica with a graceful
// Failover, and is then replaced as a replica. A shard without a replica first gets the
// temporary node as one. Each step waits until every node answers and every replica is linked
// and caught up, the previous replacement's included.
func planRoll(o *liveCluster) []Action {
	if !o.rolling() {
		return nil
	}
	nodes := o.reachable()
	byIndex := map[int]reachableMember{}
	for _, n := range nodes {
		byIndex[n.Index] = n
	}
	for _, m := range o.Members {
		if _, ok := byIndex[m.Index]; !ok && !m.Extra {
			return []Action{WaitFor{Because(fmt.Sprintf("rolling update waits for node %d to answer", m.Index))}}
		}
	}
	byID := map[string]reachableMember{}
	for _, n := range nodes {
		byID[n.Self.ID] = n
	}
	for _, n := range nodes {
		if n.Self.Master() {
			continue
		}
		master, ok := byID[n.Self.MasterID]
		if !ok || !n.State.StateOK() || !n.State.LinkUp() || n.State.Syncing() || master.State.StreamOffset()-n.State.ReplOffset() > caughtUpBytes {
			return []Action{WaitFor{Because(fmt.Sprintf("rolling update waits for replica node %d to catch up with its master", n.Index))}}
		}
	}

	masters := ownerNodes(nodes)
	// The shard the temporary node holds is finished first: it is needed for the next one.
	sort.Slice(masters, func(i, j int) bool {
		if masters[i].Extra != masters[j].Extra {
			return masters[i].Extra
		}
		return masters[i].Index < masters[j].Index
	})
	for _, m := range masters {
		var replicas []reachableMember
		for _, n := range nodes {
			if !n.Self.Master() && n.Self.MasterID == m.Self.ID {
				replicas = append(replicas, n)
			}
		}
		sort.Slice(replicas, func(i, j int) bool { return replicas[i].Index < replicas[j].Index })
		for _, r := range replicas {
			if r.Outdated {
				return []Action{ReplacePod{Because(fmt.Sprintf("replace pod %s of replica node %d, built from an older spec", r.Pod, r.Index)), r.Member, "", nil}}
			}
		}
		if !m.Outdated || m.Extra {
			continue
		}
		if r, ok := bestReplica(replicas, masters); ok {
			return []Action{Failover{Because(fmt.Sprintf("node %d takes over from master node %d, whose pod is to be replaced", r.Index, m.Index)),
				r.Addr(), m.Self.ID, topology.FailoverGraceful}}
		}
		for _, r := range replicas {
			if !r.Outdated {
				return []Action{WaitFor{Because(fmt.Sprintf("rolling update waits for every master to know node %d as the replica of node %d", r.Index, m.Index))}}
			}
		}
		return temporaryReplica(o, m, byIndex)
	}
	// What is left owns no slot and replicates no master that does.
	for _, n := range nodes {
		if n.Outdated && !n.Extra && !isSlotOwner(n) {
			return []Action{ReplacePod{Because(fmt.Sprintf("replace pod %s of node %d, built from an older spec", n.Pod, n.Index)), n.Member, "", nil}}
		}
	}
	return nil
}

// bestReplica is the replica with the furthest offset among those whose pod is current and
// that every master knows as a replica: the cluster has settled on the shard's layout.
func bestReplica(replicas, masters []reachableMember) (reachableMember, bool) {
	var best reachableMember
	found := false
	for _, r := range replicas {
		if r.Outdated || !r.State.LinkUp() || !knownAsReplica(r, masters) {
			continue
		}
		if !found || r.State.ReplOffset() > best.State.ReplOffset() {
			best, found = r, true
		}
	}
	return best, found
}

// temporaryReplica brings the temporary node up and makes it a replica of master m.
func temporaryReplica(o *liveCluster, m reachableMember, byIndex map[int]reachableMember) []Action {
	if o.NoTemporary != "" {
		return []Action{WaitFor{Because(fmt.Sprintf("master node %d has no replica to hand over to and no temporary one can be added: %s",
			m.Index, o.NoTemporary))}}
	}
	for _, t := range o.Members {
		if t.Index != o.TemporaryIndex {
			continue
		}
		n, ok := byIndex[t.Index]
		if !ok {
			return []Action{WaitFor{Because(fmt.Sprintf("rolling update waits for temporary node %d to answer", t.Index))}}
		}
		if isSlotOwner(n) {
			return []Action{WaitFor{Because(fmt.Sprintf("temporary node %d hands its slots back before it serves another shard", t.Index))}}
		}
		if !n.knows(m.Self.ID) || !n.State.StateOK() {
			return []Action{WaitFor{Because(fmt.Sprintf("temporary node %d is still joining the cluster", t.Index))}}
		}
		return []Action{Replicate{Because(fmt.Sprintf("make temporary node %d a replica of master node %d, which has none, before its pod is replaced",
			t.Index, m.Index)), n.Addr(), m.Self.ID}}
	}
	return []Action{AddTemporaryNode{Because(fmt.Sprintf("add temporary node %d: master node %d has no replica to hand over to",
		o.TemporaryIndex, m.Index)), o.TemporaryIndex}}
}

// applyRoll reports the rolling update: how many wanted nodes run a current pod, and the
// Updating condition with the roll's next step.
func applyRoll(status *redisv1beta1.RedisClusterStatus, generation int64, o *liveCluster, plan []Action) {
	updated, wanted := 0, 0
	for _, m := range o.Members {
		if m.Extra {
			continue
		}
		wanted++
		if m.Current {
			updated++
		}
	}
	status.UpdatedNodes = int32(updated)
	if !o.rolling() {
		SetCondition(status, generation, redisv1beta1.ConditionUpdating, metav1.ConditionFalse, ReasonUpToDate,
			"no pod runs an older spec")
		return
	}
	msg := fmt.Sprintf("%d of %d nodes updated", updated, wanted)
	if len(plan) > 0 {
		msg += "; " + plan[0].Why()
	}
	SetCondition(status, generation, redisv1beta1.ConditionUpdating, metav1.ConditionTrue, ReasonRollingUpdate, BoundText(msg, MaxConditionMessage))
}

// knownAsReplica reports whether every other master's table has r as a replica of r's master:
// a node that joined or moved a moment ago is not handed a shard before the cluster agrees on
// what it is.
func knownAsReplica(r reachableMember, masters []reachableMember) bool {
	for _, m := range masters {
		if m.Self.ID == r.Self.MasterID {
			continue
		}
		peer, ok := m.State.Peer(r.Self.ID)
		if !ok || peer.Master() || peer.MasterID != r.Self.MasterID {
			return false
		}
	}
	return true
}
