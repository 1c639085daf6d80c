package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
)

// Event reasons for actions on Redis.
const (
	ReasonMetNode       = "MetNode"
	ReasonAssignedSlots = "AssignedSlots"
	ReasonSlotsLost     = "SlotsLost"
	ReasonReplicaSet    = "AttachedReplica"
	ReasonForgotNode    = "ForgotNode"
	ReasonRepairedSlot  = "RepairedSlot"
	ReasonRedisError    = "RedisError"
	ReasonFailover      = "ForcedFailover"
)

// redisAdmins keeps one Redis connection pool per cluster, closed when the cluster goes away.
type redisAdmins struct {
	mu     sync.Mutex
	admins map[cache.ObjectName]*clusterAdmin
}

type clusterAdmin struct {
	admin    *redisops.Admin
	password string
}

// get returns the cluster's Admin, replacing it when the password changed.
func (r *redisAdmins) get(key cache.ObjectName, password string) *redisops.Admin {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.admins == nil {
		r.admins = map[cache.ObjectName]*clusterAdmin{}
	}
	if a, ok := r.admins[key]; ok && a.password == password {
		return a.admin
	} else if ok {
		a.admin.Close()
	}
	a := &clusterAdmin{admin: redisops.NewAdmin(password), password: password}
	r.admins[key] = a
	return a.admin
}

// close drops a deleted cluster's pool.
func (r *redisAdmins) close(key cache.ObjectName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.admins[key]; ok {
		a.admin.Close()
		delete(r.admins, key)
	}
}

// adminFor returns the Admin of rc, reading its password Secret when it has one.
func (c *Controller) adminFor(ctx context.Context, rc *redisv1beta1.RedisCluster) (*redisops.Admin, error) {
	password := ""
	if ref := rc.Spec.PasswordSecret; ref != nil {
		secret, err := c.kubeClient.CoreV1().Secrets(rc.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading password secret %s: %w", ref.Name, err)
		}
		value, ok := secret.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("password secret %s has no key %s", ref.Name, ref.Key)
		}
		password = string(value)
	}
	return c.admins.get(cache.ObjectName{Namespace: rc.Namespace, Name: rc.Name}, password), nil
}

// executed is what carrying out a plan did.
type executed struct {
	actions   int
	lostSlots []string
	// migration is the state a migrate action ended in; notes say what repairs were made and
	// what failed, for the migration's record.
	migration *redisv1beta1.MigrationStatus
	notes     []string
}

// execute carries out a plan's actions in order, recording Events for what it did (one for all
// of a pass's meetings). It stops at the first error: the next sync re-plans from the live cluster.
func (c *Controller) execute(ctx context.Context, rc *redisv1beta1.RedisCluster, admin *redisops.Admin,
	view *redisops.ClusterView, p plan) (executed, error) {
	var done executed
	var repairs []redisops.Repair
	var met meetings
	defer func() { met.report(c, rc) }()
	for _, a := range p.Actions {
		var err error
		switch a.Kind {
		case actWait:
			continue
		case actMeet:
			err = admin.Meet(ctx, a.Addr, a.Target.IP, a.Target.Port, a.Target.Port+redisv1beta1.BusPortOffset)
			if err == nil {
				met.add(a.Addr, a.Target.Addr())
			}
		case actAddSlots:
			if a.Epoch != 0 {
				err = admin.SetConfigEpoch(ctx, a.Addr, a.Epoch)
			}
			if err == nil {
				err = admin.AddSlotsRange(ctx, a.Addr, a.Ranges)
			}
			c.recordIf(err, rc, ReasonAssignedSlots, "Assigned slots %s to %s", strings.Join(redisops.FormatRanges(a.Ranges), ","), a.Addr)
		case actAssignedLost:
			err = admin.ClaimSlots(ctx, view.Nodes[a.Addr], a.Ranges)
			if err == nil {
				done.lostSlots = append(done.lostSlots, redisops.FormatRanges(a.Ranges)...)
				what := fmt.Sprintf("slots %s had no live owner (a master died with no replica); assigned them empty to %s: their keys are lost",
					strings.Join(redisops.FormatRanges(a.Ranges), ","), a.Addr)
				c.recordEvent(rc, corev1.EventTypeWarning, ReasonSlotsLost, "%s", what)
				done.notes = append(done.notes, what)
			}
		case actReplicate:
			err = admin.Replicate(ctx, a.Addr, a.NodeID)
			c.recordIf(err, rc, ReasonReplicaSet, "%s: %s replicates %s", a.Reason, a.Addr, short(a.NodeID))
		case actForget:
			err = forgetEverywhere(ctx, admin, view, a.NodeID)
			c.recordIf(err, rc, ReasonForgotNode, "Forgot node %s on every node: %s", short(a.NodeID), a.Reason)
		case actFailover:
			err = admin.Client(a.Addr).Do(ctx, "CLUSTER", "FAILOVER", "FORCE").Err()
			c.recordIf(err, rc, ReasonFailover, "%s", a.Reason)
			done.note(err, a.Reason)
		case actMigrate:
			done.migration, err = c.migrate(ctx, rc, admin, view, a.Moves)
		case actRemove:
			err = c.removeNode(ctx, rc, admin, view, a)
		case actPointOwner:
			err = admin.SetSlots(ctx, a.Addr, a.Slots, "NODE", a.NodeID)
			c.recordIf(err, rc, ReasonRepairedSlot, "%s: %s", a.Reason, redisops.SlotList(a.Slots))
			done.note(err, a.Reason)
		case actRepairSlot:
			var r redisops.Repair
			if r, err = admin.RepairOpenSlot(ctx, view, a.Slot, a.Owner, masterAddrs(view)); err == nil {
				repairs = append(repairs, r)
			}
		}
		if err != nil {
			c.reportRepairs(rc, &done, repairs)
			c.recordEvent(rc, corev1.EventTypeWarning, ReasonRedisError, "%s failed: %v", a.Reason, err)
			done.notes = append(done.notes, fmt.Sprintf("%s failed: %v", a.Reason, err))
			return done, err
		}
		done.actions++
	}
	c.reportRepairs(rc, &done, repairs)
	return done, nil
}

// meetings are the CLUSTER MEETs of one pass, by the node that sent them, for one Event: a new
// node meets every master, and an Event each would use up the burst of Events client-go lets
// through per object, dropping later ones (an alert's scaling among them).
type meetings struct {
	from []string
	to   map[string][]string
}

func (m *meetings) add(from, to string) {
	if m.to == nil {
		m.to = map[string][]string{}
	}
	if _, seen := m.to[from]; !seen {
		m.from = append(m.from, from)
	}
	m.to[from] = append(m.to[from], to)
}

func (m *meetings) report(c *Controller, rc *redisv1beta1.RedisCluster) {
	if len(m.from) == 0 {
		return
	}
	parts := make([]string, len(m.from))
	for i, from := range m.from {
		parts[i] = from + " met " + strings.Join(m.to[from], ", ")
	}
	c.recordEvent(rc, corev1.EventTypeNormal, ReasonMetNode, "Introduced nodes: %s", strings.Join(parts, "; "))
}

// reportRepairs records one Event and one note per kind of repair made to open slots.
func (c *Controller) reportRepairs(rc *redisv1beta1.RedisCluster, done *executed, repairs []redisops.Repair) {
	for _, what := range summarizeRepairs(repairs) {
		c.recordEvent(rc, corev1.EventTypeNormal, ReasonRepairedSlot, "Repaired open slots: %s", what)
		done.notes = append(done.notes, what)
	}
}

// summarizeRepairs groups repairs that ended alike, naming their slots as ranges.
func summarizeRepairs(repairs []redisops.Repair) []string {
	type outcome struct {
		finished    bool
		owner, lost string
	}
	var order []outcome
	slots := map[outcome][]int{}
	keys := map[outcome]int{}
	for _, r := range repairs {
		o := outcome{r.Finished, r.Owner, r.LostWith}
		if _, seen := slots[o]; !seen {
			order = append(order, o)
		}
		slots[o] = append(slots[o], r.Slot)
		keys[o] += r.Keys
	}
	var out []string
	for _, o := range order {
		ranges := redisops.SlotList(slots[o])
		if o.finished {
			out = append(out, fmt.Sprintf("finished moving slots %s to %s (%d keys)", ranges, o.owner, keys[o]))
			continue
		}
		what := fmt.Sprintf("rolled slots %s back to their owner %s (%d keys returned)", ranges, o.owner, keys[o])
		if o.lost != "" {
			what += fmt.Sprintf("; keys they had sent to node %s are lost with it", short(o.lost))
		}
		out = append(out, what)
	}
	return out
}

// maxInterruptions bounds the record of what interrupted one migration (the first entry and the
// latest are kept); noteLength bounds one entry.
const (
	maxInterruptions = 10
	noteLength       = 300
)

// recordMigration folds one pass into the migration record: the end state of its migrate
// action, and, while a migration is on record, the repairs and failures met on the way.
func recordMigration(m *redisv1beta1.MigrationStatus, done executed) *redisv1beta1.MigrationStatus {
	if done.migration != nil {
		m = done.migration
	}
	if m == nil || len(done.notes) == 0 {
		return m
	}
	m = m.DeepCopy()
	for _, n := range done.notes {
		if len(n) > noteLength {
			n = n[:noteLength] + "..."
		}
		m.Interruptions = append(m.Interruptions, n)
	}
	if extra := len(m.Interruptions) - maxInterruptions; extra > 0 {
		// The first entry says what broke the migration; keep it and the latest.
		m.Interruptions = append(m.Interruptions[:1], m.Interruptions[1+extra:]...)
	}
	return m
}

// note keeps what a successful repair did.
func (e *executed) note(err error, what string) {
	if err == nil {
		e.notes = append(e.notes, what)
	}
}

func (c *Controller) recordIf(err error, rc *redisv1beta1.RedisCluster, reason, format string, args ...interface{}) {
	if err == nil {
		c.recordEvent(rc, corev1.EventTypeNormal, reason, format, args...)
	}
}

// forgetEverywhere sends CLUSTER FORGET to every reachable node but the forgotten one at once, so
// that gossip from a node that still knows it does not bring it back.
func forgetEverywhere(ctx context.Context, admin *redisops.Admin, view *redisops.ClusterView, id string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(view.Nodes))
	for _, s := range view.Reachable() {
		if self, _ := s.Self(); self.ID == id {
			continue
		}
		if _, known := s.Peer(id); !known {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := admin.Forget(ctx, s.Addr, id); err != nil && !strings.Contains(err.Error(), "Unknown node") {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// masterAddrs lists reachable masters.
func masterAddrs(view *redisops.ClusterView) []string {
	var out []string
	for _, s := range view.Reachable() {
		if self, _ := s.Self(); self.Master() {
			out = append(out, s.Addr)
		}
	}
	return out
}
