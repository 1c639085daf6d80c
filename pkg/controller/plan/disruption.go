package plan

import (
	"fmt"
	"sort"
	"strconv"

	policyv1 "k8s.io/api/policy/v1"

	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/topology"
)

// shardOf maps each master that serves slots to its shard: masters ranked by their first slot.
// A master that does not answer counts while the answering nodes' tables give it slots no
// answering master claims: until a replica takes over, its replicas hold the shard's only copy,
// and its shard's number must not pass to another.
func shardOf(nodes []reachableMember) map[string]int {
	first := map[string]int{}
	answering := map[string]bool{}
	var claimed [topology.SlotCount]bool
	for _, n := range nodes {
		answering[n.Self.ID] = true
		if isSlotOwner(n) {
			first[n.Self.ID] = n.Self.Slots[0].Start
			for _, r := range n.Self.Slots {
				for slot := r.Start; slot <= r.End; slot++ {
					claimed[slot] = true
				}
			}
		}
	}
	for _, n := range nodes {
		for _, peer := range n.State.Table {
			if answering[peer.ID] || !peer.Master() || len(peer.Slots) == 0 || claimed[peer.Slots[0].Start] {
				continue
			}
			if f, ok := first[peer.ID]; !ok || peer.Slots[0].Start < f {
				first[peer.ID] = peer.Slots[0].Start
			}
		}
	}
	ids := make([]string, 0, len(first))
	for id := range first {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return first[ids[i]] < first[ids[j]] })
	out := map[string]int{}
	for i, id := range ids {
		out[id] = i
	}
	return out
}

// planLabels brings each answering node's pod labels to its role and shard. A pod that becomes
// a master is labelled before the one that stops being it: the shard's master never goes
// without the masters' budget (planBudgets counts both while the labels move).
func planLabels(o *Observation, in *liveCluster) []Action {
	nodes := in.reachable()
	shards := shardOf(nodes)
	var out, demoted []Action
	for _, n := range nodes {
		pod := o.Pods[n.Index]
		if pod == nil {
			continue
		}
		role, shard := "", ""
		if s, ok := shards[n.Self.ID]; ok {
			role, shard = "master", strconv.Itoa(s)
		} else if s, ok := shards[n.Self.MasterID]; ok && !n.Self.Master() {
			role, shard = "replica", strconv.Itoa(s)
		}
		if pod.Labels[objects.LabelRole] != role || pod.Labels[objects.LabelShard] != shard {
			a := LabelPod{Because(fmt.Sprintf("label pod %s as %s of shard %s", pod.Name, orNone(role), orNone(shard))),
				pod.Name, map[string]string{objects.LabelRole: role, objects.LabelShard: shard}}
			if pod.Labels[objects.LabelRole] == "master" {
				demoted = append(demoted, a)
			} else {
				out = append(out, a)
			}
		}
	}
	return append(out, demoted...)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// planBudgets returns the budgets to create or update and the names of those to delete;
// existing maps each budget's name to its minAvailable. The budgets are written before the
// sync's labels (relabel), so they cover each pod by its labels now and by those it gets:
// every pod labelled master, now or after, counts in the masters' budget, which lets none go;
// shard k's budget lets one replica go only while its master's pod is ready and keeps its
// labels, since without it the replicas hold the shard's only copies. A shard keeps its budget
// while the spec asks for it or a pod is labelled with it, so a refused or unfinished scale-in
// keeps covering the shards above the spec.
func planBudgets(o *Observation, relabel []Action, existing map[string]int32) (write []*policyv1.PodDisruptionBudget, remove []string) {
	rc := o.Cluster
	after := map[string]map[string]string{}
	for _, a := range relabel {
		if l, ok := a.(LabelPod); ok {
			after[l.Pod] = l.Labels
		}
	}
	var masters int32
	replicas, serving := map[int]int32{}, map[int]bool{}
	shards := int(rc.Spec.Masters)
	// A terminating pod counts as it is labelled: the disruption controller counts it as gone,
	// so while it goes no other pod of its budget may.
	for _, pod := range o.Pods {
		now := [2]string{pod.Labels[objects.LabelRole], pod.Labels[objects.LabelShard]}
		next := now
		if l, ok := after[pod.Name]; ok {
			next = [2]string{l[objects.LabelRole], l[objects.LabelShard]}
		}
		if now[0] == "master" || next[0] == "master" {
			masters++
		}
		for i, labels := range [][2]string{now, next} {
			k, err := strconv.Atoi(labels[1])
			if err != nil || (i == 1 && labels == now) {
				continue
			}
			shards = max(shards, k+1)
			if labels[0] == "replica" {
				replicas[k]++
			}
		}
		if k, err := strconv.Atoi(now[1]); err == nil && now[0] == "master" && next == now && podReady(pod) {
			serving[k] = true
		}
	}
	wanted := map[string]bool{}
	want := []*policyv1.PodDisruptionBudget{objects.MastersBudget(rc, masters)}
	for k := range shards {
		least := replicas[k]
		if serving[k] && least > 0 {
			least--
		}
		want = append(want, objects.ShardBudget(rc, k, least))
	}
	for _, b := range want {
		wanted[b.Name] = true
		if least, ok := existing[b.Name]; !ok || least != b.Spec.MinAvailable.IntVal {
			write = append(write, b)
		}
	}
	for name := range existing {
		if !wanted[name] {
			remove = append(remove, name)
		}
	}
	sort.Strings(remove)
	return write, remove
}
