// Package invariants checks what must hold of a healthy Redis Cluster after every step of an
// end-to-end test, reading every node rather than trusting one.
package invariants

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
)

// Expect is the shape the cluster should have; zero Masters skips the count check.
type Expect struct {
	Masters           int
	ReplicasPerMaster int
	// Password is the one redis-cli logs in with, "" for none.
	Password string
	// TLS, for a TLS cluster, are the files redis-cli presents and trusts.
	TLS *conf.TLS
}

// Check returns nil when every invariant holds, or an error listing each violation:
//  1. every slot is owned by exactly one master, and every node agrees on the owner;
//  2. no slot is left importing or migrating;
//  3. every node says cluster_state:ok and nobody flags a node fail, fail?, handshake or noaddr;
//  4. the masters count is as expected and each master has the expected replicas, linked;
//  5. no master holds keys of a slot it does not own;
//  6. redis-cli --cluster check agrees;
//  7. every node lists every replica, as replicating the master it names itself.
func Check(ctx context.Context, admin *redisops.Admin, addrs []string, want Expect) error {
	view := admin.View(ctx, addrs)
	var problems []string
	report := func(format string, args ...interface{}) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, addr := range view.Addrs() {
		if err := view.Nodes[addr].Err; err != nil {
			report("node %s unreachable: %v", addr, err)
		}
	}
	owners := checkSlots(view, report)
	checkOpenSlots(view, report)
	checkHealth(view, report)
	checkShape(view, want, report)
	checkOrphanKeys(ctx, admin, view, owners, report)
	checkReplicasListed(view, report)
	if len(addrs) > 0 {
		checkWithRedisCLI(ctx, addrs[0], want, report)
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("cluster invariants violated:\n  - " + strings.Join(problems, "\n  - "))
}

// checkSlots checks invariant 1 and returns the agreed owner of each slot.
func checkSlots(view *topology.ClusterView, report func(string, ...interface{})) [topology.SlotCount]string {
	owners, contested := view.SlotOwners()
	if len(contested) > 0 {
		report("slots claimed by more than one master: %s", slotList(contested))
	}
	var unowned []int
	for slot, id := range owners {
		if id == "" {
			unowned = append(unowned, slot)
		}
	}
	if len(unowned) > 0 {
		report("slots owned by no master: %s", slotList(unowned))
	}
	for _, s := range view.Reachable() {
		disagree := s.Disagreements(&owners)
		if len(disagree) > 0 {
			report("node %s disagrees on the owner of slots %s", s.Addr, slotList(disagree))
		}
	}
	return owners
}

func checkOpenSlots(view *topology.ClusterView, report func(string, ...interface{})) {
	for _, open := range view.OpenSlots() {
		state := "importing from"
		if open.Migrating {
			state = "migrating to"
		}
		report("slot %d left %s %s on node %s", open.Slot, state, short(open.Peer), open.Addr)
	}
}

func checkHealth(view *topology.ClusterView, report func(string, ...interface{})) {
	for _, s := range view.Reachable() {
		if !s.StateOK() {
			report("node %s says cluster_state:%s", s.Addr, s.Info["cluster_state"])
		}
		for _, n := range s.Table {
			for _, flag := range []string{"fail", "fail?", "handshake", "noaddr"} {
				if n.Flags[flag] {
					report("node %s flags %s (%s) %s", s.Addr, short(n.ID), n.Addr, flag)
				}
			}
		}
	}
}

func checkShape(view *topology.ClusterView, want Expect, report func(string, ...interface{})) {
	byID := view.ByID()
	replicas := map[string][]*topology.NodeState{}
	var masters []string
	for id, s := range byID {
		self, _ := s.Self()
		if self.Master() {
			masters = append(masters, id)
		} else if self.MasterID != "" {
			replicas[self.MasterID] = append(replicas[self.MasterID], s)
		}
	}
	sort.Strings(masters)
	if want.Masters > 0 && len(masters) != want.Masters {
		report("%d masters, want %d", len(masters), want.Masters)
	}
	for _, id := range masters {
		linked := 0
		for _, r := range replicas[id] {
			if r.LinkUp() {
				linked++
			} else {
				report("replica %s of master %s has master_link_status:%s", r.Addr, short(id), r.Replication["master_link_status"])
			}
		}
		if linked != want.ReplicasPerMaster {
			report("master %s (%s) has %d linked replicas, want %d", short(id), byID[id].Addr, linked, want.ReplicasPerMaster)
		}
	}
}

// ReplicasListed checks invariant 7 alone, once: right after the cluster turned Ready it must
// already hold, since clients that read from replicas learn them from whichever node they ask.
func ReplicasListed(ctx context.Context, admin *redisops.Admin, addrs []string) error {
	var problems []string
	checkReplicasListed(admin.View(ctx, addrs), func(format string, args ...interface{}) {
		problems = append(problems, fmt.Sprintf(format, args...))
	})
	if len(problems) == 0 {
		return nil
	}
	return errors.New("replicas not listed:\n  - " + strings.Join(problems, "\n  - "))
}

func checkReplicasListed(view *topology.ClusterView, report func(string, ...interface{})) {
	reachable := view.Reachable()
	for _, r := range reachable {
		self, ok := r.Self()
		if !ok || self.Master() {
			continue
		}
		for _, s := range reachable {
			if s == r {
				continue
			}
			line, known := s.Peer(self.ID)
			switch {
			case !known:
				report("node %s does not list replica %s (%s)", s.Addr, short(self.ID), r.Addr)
			case line.Master() || line.MasterID != self.MasterID:
				report("node %s lists %s (%s) as %s, not as a replica of %s", s.Addr, short(self.ID), r.Addr, role(line), short(self.MasterID))
			}
		}
	}
}

func role(n topology.NodeView) string {
	if n.Master() {
		return "a master"
	}
	return "a replica of " + short(n.MasterID)
}

// checkOrphanKeys asks every master, in one pipeline, how many keys it holds in each slot it
// does not own.
func checkOrphanKeys(ctx context.Context, admin *redisops.Admin, view *topology.ClusterView,
	owners [topology.SlotCount]string, report func(string, ...interface{})) {
	for id, s := range view.ByID() {
		self, _ := s.Self()
		if !self.Master() {
			continue
		}
		counts := make(map[int]*redis.IntCmd)
		_, err := admin.Client(s.Addr).Pipelined(ctx, func(p redis.Pipeliner) error {
			for slot := 0; slot < topology.SlotCount; slot++ {
				if owners[slot] != id {
					counts[slot] = p.ClusterCountKeysInSlot(ctx, slot)
				}
			}
			return nil
		})
		if err != nil {
			report("counting keys on %s: %v", s.Addr, err)
			continue
		}
		var orphans []int
		for slot, c := range counts {
			if c.Val() > 0 {
				orphans = append(orphans, slot)
			}
		}
		sort.Ints(orphans)
		if len(orphans) > 0 {
			report("master %s holds keys of slots it does not own: %s", s.Addr, slotList(orphans))
		}
	}
}

func checkWithRedisCLI(ctx context.Context, addr string, want Expect, report func(string, ...interface{})) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{"--cluster", "check", addr}
	if want.Password != "" {
		args = append(args, "-a", want.Password, "--no-auth-warning")
	}
	if want.TLS != nil {
		args = append(args, "--tls", "--cacert", want.TLS.CAFile, "--cert", want.TLS.CertFile, "--key", want.TLS.KeyFile)
	}
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		report("redis-cli --cluster check %s failed (%v):\n%s", addr, err, out)
	}
}

// slotList renders slots as merged ranges, at most 10 of them.
func slotList(slots []int) string {
	set := map[int]bool{}
	for _, s := range slots {
		set[s] = true
	}
	ranges := topology.RangesOf(func(slot int) bool { return set[slot] })
	parts := topology.FormatRanges(ranges)
	if len(parts) > 10 {
		parts = append(parts[:10], fmt.Sprintf("and %d more ranges", len(parts)-10))
	}
	return strings.Join(parts, ",")
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
