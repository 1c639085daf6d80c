package plan

import (
	"fmt"
	"time"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/topology"
)

// forceFailoverAfter is how many node timeouts a lost master may stay unheard of before the
// operator forces its replica to take over instead of waiting for Redis' own election.
const forceFailoverAfter = 3

// takeoverAfter is how many node timeouts of silence make a replica take over without a vote,
// when forcing did not win one.
const takeoverAfter = 2 * forceFailoverAfter

// lostMajority reports whether, in r's table, at least half of the masters owning slots are
// failed: too few are left to vote a replica in.
func lostMajority(r reachableMember) bool {
	owners, failed := 0, 0
	for _, n := range r.State.Table {
		if n.Master() && len(n.Slots) > 0 {
			owners++
			if n.Failed() || n.NoAddr() {
				failed++
			}
		}
	}
	return owners > 0 && 2*failed >= owners
}

// awaitingFailover returns the node indexes whose pod must not be re-created yet: the pod of a
// master that owned slots is gone while a replica of it lives. A replacement would come back
// empty at the old address, and the replica, which replicates by address, would resync from it
// and drop every key. Once the replica has taken over, the index is released. When the lost
// master has been silent for forceFailoverAfter node timeouts and its replica still waits, it
// returns an action forcing the best replica to take over.
func awaitingFailover(rc *redisv1beta1.RedisCluster, o *liveCluster, present map[int]bool) (map[int]string, []Action) {
	hold := map[int]string{}
	var force []Action
	if o.View == nil || rc.Spec.PersistenceEnabled() {
		return hold, nil // a persistent node comes back with its id and keys
	}
	nodes := o.reachable()
	for _, m := range o.Members {
		if present[m.Index] {
			continue
		}
		wasID, replicas := lostMasterOf(rc, o, m, nodes)
		if len(replicas) == 0 {
			continue
		}
		hold[m.Index] = fmt.Sprintf("pod of master node %d is re-created once its replica has taken over", m.Index)
		best := replicas[0]
		for _, r := range replicas[1:] {
			if r.State.ReplOffset() > best.State.ReplOffset() {
				best = r
			}
		}
		peer, known := best.State.Peer(wasID)
		silent := o.Now.Sub(time.UnixMilli(peer.PongRecv))
		early := silent <= forceFailoverAfter*o.NodeTimeout && !lostMajority(best)
		if known && early && stopped(peer, best) {
			// Its pod is gone and its replica has lost both links to it: the process ended,
			// and without persistence nothing of it comes back. Redis would elect the replica
			// after a node timeout and more with the same data; FORCE does it now. Should FORCE
			// not win, the timers below take over as for any lost master.
			force = append(force, Failover{Because(fmt.Sprintf("force node %d to take over from master node %d, whose pod is gone and whose links are down",
				best.Index, m.Index)), best.Addr(), wasID, topology.FailoverForce})
			continue
		}
		// A master whose address was reused shows noaddr and is never flagged fail by Redis.
		gone := peer.Failed() || peer.NoAddr()
		if !known || !gone || peer.PongRecv == 0 || silent <= forceFailoverAfter*o.NodeTimeout {
			continue
		}
		// FORCE still needs the votes of a majority of masters. When most are gone (they had
		// bunched on a host that died), or FORCE has had time to win and did not, the replica
		// takes over without a vote. The text stays the same every pass so that the Events of
		// one hold are counted as one.
		mode, how := topology.FailoverForce, "force"
		if lostMajority(best) || silent > takeoverAfter*o.NodeTimeout {
			mode, how = topology.FailoverTakeover, "make"
		}
		force = append(force, Failover{Because(fmt.Sprintf("%s node %d to take over from master node %d, unheard of for over %d node timeouts",
			how, best.Index, m.Index, forceFailoverAfter)), best.Addr(), wasID, mode})
	}
	return hold, force
}

// stopped reports whether replica, in its own view, has lost both its links to its master: the
// cluster bus link is disconnected and the replication link down. A process that ended closes
// both at once. A network that drops packets leaves the replication link up until repl-timeout
// (60 s), long after Redis' own election, so a master cut off but alive is not taken for stopped.
func stopped(master topology.NodeView, replica reachableMember) bool {
	return !master.Linked && !master.NoAddr() && !replica.State.LinkUp() && replica.Self.MasterID == master.ID
}

// lostMasterOf returns the node id member m's lost pod had as a master, and the reachable
// replicas of it. The nodes' own tables decide first: a replica whose master sits at m's port
// replicates m, whatever the last status said (a hand-over it missed, an operator restart).
// The last status is the fallback for a master whose replicas no longer name its address.
func lostMasterOf(rc *redisv1beta1.RedisCluster, o *liveCluster, m Member, nodes []reachableMember) (string, []reachableMember) {
	replicasOf := func(id string) []reachableMember {
		var out []reachableMember
		for _, n := range nodes {
			if !n.Self.Master() && n.Self.MasterID == id {
				out = append(out, n)
			}
		}
		return out
	}
	for _, n := range nodes {
		if n.Self.Master() {
			continue
		}
		master, known := n.State.Peer(n.Self.MasterID)
		if at, ok := o.memberAt(master.Addr); known && ok && at.Index == m.Index && master.Master() && len(master.Slots) > 0 {
			return master.ID, replicasOf(master.ID)
		}
	}
	for _, n := range rc.Status.Nodes {
		if n.Pod == m.Pod && n.Role == redisv1beta1.RoleMaster && len(n.Slots) > 0 && n.NodeID != "" {
			return n.NodeID, replicasOf(n.NodeID)
		}
	}
	return "", nil
}
