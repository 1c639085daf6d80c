package plan

import "fmt"

// replicasFirst links a replica to each new master before any slot moves to it, so that no key
// it receives ever exists only on it: a joined node that is not to be a master, or else a replica
// beyond perMaster of a slot owner, becomes its replica, preferably on another Kubernetes node,
// and the move waits until the replica's link is up. It returns nothing once every new master
// has a linked replica.
func replicasFirst(nodes, chosen, joined []reachableMember, perMaster int) []Action {
	isChosen := map[string]bool{}
	for _, c := range chosen {
		isChosen[c.Self.ID] = true
	}
	var spare []reachableMember
	for _, n := range joined {
		if !isChosen[n.Self.ID] {
			spare = append(spare, n)
		}
	}
	spare = append(spare, surplusReplicas(nodes, perMaster)...)
	var out []Action
	for _, c := range chosen {
		var replica *reachableMember
		for i, n := range nodes {
			if !n.Self.Master() && n.Self.MasterID == c.Self.ID {
				if replica == nil || n.State.LinkUp() {
					replica = &nodes[i]
				}
			}
		}
		if replica != nil {
			if !replica.State.LinkUp() {
				out = append(out, WaitFor{Because(fmt.Sprintf("waiting for node %d, replica of new master node %d, to sync before slots move to it",
					replica.Index, c.Index))})
			}
			continue
		}
		pick := -1
		for i, s := range spare {
			if s.knows(c.Self.ID) && (pick < 0 || (spare[pick].Domain == c.Domain && s.Domain != c.Domain)) {
				pick = i
			}
		}
		if pick < 0 {
			out = append(out, WaitFor{Because(fmt.Sprintf("waiting for a node to replicate new master node %d before slots move to it", c.Index))})
			continue
		}
		out = append(out, Replicate{Because(fmt.Sprintf("make node %d a replica of new master node %d before slots move to it", spare[pick].Index, c.Index)),
			spare[pick].Addr(), c.Self.ID})
		spare = append(spare[:pick], spare[pick+1:]...)
	}
	return out
}

// surplusReplicas are the replicas, beyond perMaster, of each slot owner: after a lost node's
// replica took its place, its pod may have come back as another master's extra replica.
func surplusReplicas(nodes []reachableMember, perMaster int) []reachableMember {
	owners := map[string]bool{}
	for _, n := range nodes {
		if isSlotOwner(n) {
			owners[n.Self.ID] = true
		}
	}
	count := map[string]int{}
	var out []reachableMember
	for _, n := range nodes {
		if n.Self.Master() || !owners[n.Self.MasterID] || !n.State.LinkUp() {
			continue
		}
		if count[n.Self.MasterID]++; count[n.Self.MasterID] > perMaster {
			out = append(out, n)
		}
	}
	return out
}
