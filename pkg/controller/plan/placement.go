package plan

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"redis-operator/pkg/redisops/topology"
)

// drainTaints mark a Kubernetes node an autoscaler is removing: it evicts the node's pods
// without cordoning it first.
var drainTaints = map[string]bool{
	"ToBeDeletedByClusterAutoscaler": true, // cluster autoscaler
	"karpenter.sh/disrupted":         true, // Karpenter v1
	"karpenter.sh/disruption":        true, // Karpenter before v1
}

// Leaving reports whether a Kubernetes node is being emptied: cordoned (a drain starts so), or
// tainted by an autoscaler that removes it.
func Leaving(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return true
	}
	for _, t := range n.Spec.Taints {
		if drainTaints[t.Key] && t.Effect != corev1.TaintEffectPreferNoSchedule {
			return true
		}
	}
	return false
}

// planDrain hands the master role off Kubernetes nodes being emptied (cordoned or tainted)
// to the master's most up-to-date replica on a schedulable node, gracefully. The masters'
// budget keeps their pods from being evicted until then. It also says which masters cannot
// move, and so block a drain.
func planDrain(in *liveCluster) ([]Action, []string) {
	if len(in.LeavingNodes) == 0 {
		return nil, nil
	}
	var blocked []string
	nodes := in.reachable()
	masters := ownerNodes(nodes)
	var out []Action
	for _, m := range masters {
		if !in.LeavingNodes[m.Node] {
			continue
		}
		var replicas []reachableMember
		for _, n := range nodes {
			if !n.Self.Master() && n.Self.MasterID == m.Self.ID && !in.LeavingNodes[n.Node] {
				replicas = append(replicas, n)
			}
		}
		if r, ok := bestReplica(replicas, masters); ok {
			out = append(out, Failover{Because(fmt.Sprintf("master of slots %s moved off node %s before drain: node %d takes over from node %d",
				strings.Join(topology.FormatRanges(m.Self.Slots), ","), m.Node, r.Index, m.Index)), r.Addr(), m.Self.ID, topology.FailoverGraceful})
			continue
		}
		blocked = append(blocked, fmt.Sprintf("master node %d on node %s, which is being emptied, has no in-sync replica on another node to hand over to: the masters' budget keeps its pod from eviction",
			m.Index, m.Node))
	}
	return out, blocked
}

// planSpread spreads the shards over failure domains (Kubernetes nodes by default) so that one
// domain's loss never takes a shard, nor a majority of masters. A second master in a domain
// hands its role to a replica in a domain without a master. A replica that shares its master's
// domain, or the replica of a crowded master with none elsewhere, has its pod replaced while a
// schedulable domain holds no pod of the cluster: the scheduler's spreading puts the new pod
// there. It returns why the layout stays at risk otherwise.
func planSpread(in *liveCluster) ([]Action, string) {
	nodes := in.reachable()
	masters := ownerNodes(nodes)
	mastersOn := map[string][]reachableMember{}
	for _, m := range masters {
		mastersOn[m.Domain] = append(mastersOn[m.Domain], m)
	}
	var risks []string
	for _, m := range masters {
		crowded := len(mastersOn[m.Domain]) > 1 && m.Index != mastersOn[m.Domain][0].Index
		var replicas, away []reachableMember
		for _, n := range nodes {
			if !n.Self.Master() && n.Self.MasterID == m.Self.ID {
				replicas = append(replicas, n)
				if n.Domain != m.Domain && len(mastersOn[n.Domain]) == 0 && !in.LeavingNodes[n.Node] {
					away = append(away, n)
				}
			}
		}
		withOwnReplica := false
		for _, r := range replicas {
			withOwnReplica = withOwnReplica || r.Domain == m.Domain
		}
		if !crowded && !withOwnReplica {
			continue
		}
		if r, ok := bestReplica(away, masters); ok && crowded {
			return []Action{Failover{Because(fmt.Sprintf("spread masters: node %d on %s takes over from node %d, which shares node %s with another master",
				r.Index, r.Domain, m.Index, m.Domain)), r.Addr(), m.Self.ID, topology.FailoverGraceful}}, ""
		}
		if len(in.EmptyDomains) > 0 && len(replicas) > 0 {
			move := replicas[0]
			for _, r := range replicas {
				if r.Domain == m.Domain {
					move = r
				}
			}
			return []Action{ReplacePod{Because(fmt.Sprintf("spread shards: replace pod %s of replica node %d (on %s, with master node %d) so that it runs in an empty domain (%s)",
				move.Pod, move.Index, move.Domain, m.Index, strings.Join(in.EmptyDomains, ", "))), move.Member, "", in.EmptyDomains}}, ""
		}
		if crowded {
			risks = append(risks, fmt.Sprintf("masters %d and %d share node %s and no replica on a node without a master can take over",
				mastersOn[m.Domain][0].Index, m.Index, m.Domain))
		} else {
			risks = append(risks, fmt.Sprintf("master %d and its replica share node %s", m.Index, m.Domain))
		}
	}
	if len(risks) == 0 {
		return nil, ""
	}
	if in.SpreadRefused != "" {
		risks = append(risks, in.SpreadRefused)
	}
	return nil, "layout at risk (too few Kubernetes nodes, or placement constraints): " + strings.Join(risks, "; ")
}

// emptyDomains are the failure domains that have a schedulable node and none of members, leaving
// out those that refused a pod replaced to spread shards (see refusedDomains).
func emptyDomains(o *Observation, members []Member, refused map[string]bool) []string {
	used := map[string]bool{}
	for _, m := range members {
		if m.Node != "" {
			used[m.Domain] = true
		}
	}
	free := map[string]bool{}
	for node, domain := range o.Domains {
		if !o.LeavingNodes[node] && !used[domain] && !refused[domain] {
			free[domain] = true
		}
	}
	out := make([]string, 0, len(free))
	for d := range free {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
