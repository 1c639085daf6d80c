// Package plan decides, from what one sync observed of a RedisCluster, everything the sync does:
// the objects to create, the Redis actions in order, the status and when to look again. It is
// pure: it reads no API server, lister, Redis node or clock of its own (a test checks its imports).
package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/topology"
)

// Requeue delays while the cluster converges; Redis state changes raise no Kubernetes event.
const (
	settleDelay   = 300 * time.Millisecond
	convergeDelay = time.Second
	// portRecheckDelay: a refused change looks again whether the ports or the memory were freed.
	portRecheckDelay = 10 * time.Second
	// certificateRecheckDelay: nodes wait for the kubelet to put new certificate files in their
	// volume, which takes up to its sync period.
	certificateRecheckDelay = 500 * time.Millisecond
)

// Decision is the whole plan of one sync: the objects to create, the Redis actions in order
// (waits included), the status to report and when to look again.
type Decision struct {
	CreateService bool
	// ConfigSecret is the config Secret to create or update, nil when it is current.
	ConfigSecret *corev1.Secret
	// PodAnnotations are what the pods created now record of the live settings they start with.
	PodAnnotations map[string]string
	CreateClaims   []int
	// WriteBudgets and DeleteBudgets follow the pods' labels, those they have and those the
	// Actions give them.
	WriteBudgets  []*policyv1.PodDisruptionBudget
	DeleteBudgets []string
	// ExpandClaims are claims to grow to the spec's size, by node index.
	ExpandClaims map[int]string
	// DeleteClaims are claims left unused while persistence is off.
	DeleteClaims []string
	CreatePods   []int
	Actions      []Action
	Status       redisv1beta1.RedisClusterStatus
	// Events are those not tied to an action.
	Events  []Event
	Requeue time.Duration // 0 for none
}

// refusePorts reports nodes that are not created because another cluster holds their ports:
// the cluster serves with the nodes it has, and says why it is not Ready.
func (d *Decision) refusePorts(o *Observation) {
	if len(o.HeldElsewhere) == 0 {
		return
	}
	rc := o.Cluster
	msg := HeldMessage(o.HeldElsewhere)
	if old := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady); old == nil || old.Reason != ReasonPortConflict {
		d.Events = append(d.Events, Event{corev1.EventTypeWarning, ReasonPortConflict, msg})
	}
	SetCondition(&d.Status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonPortConflict, msg)
	if d.Requeue == 0 {
		d.Requeue = portRecheckDelay
	}
}

type Event struct {
	Type, Reason, Message string
}

// plannerInput is what the planners know of rc as o saw it.
func plannerInput(rc *redisv1beta1.RedisCluster, o *Observation) *liveCluster {
	ms := WantedMembers(rc, o.Pods, o.Claims)
	refused, why := refusedDomains(o)
	for i := range ms {
		if domain, ok := o.Domains[ms[i].Node]; ok {
			ms[i].Domain = domain
		}
		if _, ok := o.DiscardClaims[ms[i].Index]; ok && ms[i].Current {
			ms[i].Outdated, ms[i].Current = true, false
		}
	}
	return &liveCluster{
		Members:        ms,
		View:           o.View,
		Masters:        int(rc.Spec.Masters),
		Replicas:       int(rc.Spec.Replicas),
		LinkDownLimit:  2 * int(rc.Spec.NodeTimeoutMillis()/1000+1),
		NodeTimeout:    time.Duration(rc.Spec.NodeTimeoutMillis()) * time.Millisecond,
		Now:            o.Now,
		TemporaryIndex: temporaryIndex(rc, o.Pods),
		LeavingNodes:   o.LeavingNodes,
		EmptyDomains:   emptyDomains(o, ms, refused),
		RestoreSlots:   restoreSlots(o.Restore),
		SpreadRefused:  why,
		NoTemporary:    o.NoTemporary,
		SlotMemory:     o.SlotMemory,
	}
}

// Decide turns an observation into a decision. It is pure: the same observation gives the same
// Decision, and it reads nothing else.
func Decide(o *Observation) Decision {
	rc := o.Cluster
	d := Decision{Status: *rc.Status.DeepCopy()}
	status := &d.Status
	status.ObservedGeneration = rc.Generation
	status.Selector = objects.ClusterSelector(rc).String()

	if o.PortConflict != "" {
		if old := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady); old == nil || old.Reason != ReasonPortConflict {
			d.Events = append(d.Events, Event{corev1.EventTypeWarning, ReasonPortConflict, "Not created: " + o.PortConflict})
		}
		SetCondition(status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonPortConflict, o.PortConflict)
		d.Requeue = portRecheckDelay // the other cluster may go away
		return d
	}
	if r := o.Restore; r != nil && len(r.Slots) == 0 {
		// No shard known yet: a pod made now would start empty, without its shard.
		SetCondition(status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonRestoring, r.Hold)
		d.Requeue = convergeDelay
		return d
	}
	d.CreateService = !o.HasService
	d.ExpandClaims = o.SmallClaims
	if !rc.Spec.PersistenceEnabled() {
		d.DeleteClaims = o.UnusedClaims
	}
	settled, forget, heldFor := heldPasswords(o)
	want := objects.ConfigSecret(rc, o.Password, o.MonitorPassword, o.Users, o.ConfigSecret, forget)
	if settled && !forget {
		objects.MarkSettled(want, o.ConfigSecret, o.Now)
	}
	if o.ConfigSecret == nil || !equality.Semantic.DeepEqual(o.ConfigSecret.Data, want.Data) {
		d.ConfigSecret = want
		d.PodAnnotations = objects.LiveAnnotations(rc, want)
	} else {
		d.PodAnnotations = objects.LiveAnnotations(rc, o.ConfigSecret)
	}

	in := plannerInput(rc, o)
	// A lost master's pod waits for its replica to take over before it is created again.
	hold, failovers := map[int]string{}, []Action(nil)
	if o.View != nil {
		present := map[int]bool{}
		for index := range o.Pods {
			present[index] = true
		}
		hold, failovers = awaitingFailover(rc, in, present)
	}
	for _, index := range WantedIndexes(rc) {
		if _, exists := o.Pods[index]; exists {
			continue
		}
		if _, held := hold[index]; held {
			continue
		}
		if _, taken := o.HeldElsewhere[index]; taken {
			continue
		}
		if o.ClaimsGoing[index] {
			continue // a pod naming it would keep the old claim from ever going
		}
		if rc.Spec.PersistenceEnabled() && !o.Claims[index] {
			d.CreateClaims = append(d.CreateClaims, index)
		}
		d.CreatePods = append(d.CreatePods, index)
	}

	if r := o.Restore; r != nil && r.Hold != "" {
		SetCondition(status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonRestoring, r.Hold)
		d.WriteBudgets, d.DeleteBudgets = planBudgets(o, nil, o.Budgets)
		d.Requeue = convergeDelay
		d.refusePorts(o)
		return d
	}
	if o.View == nil {
		SetCondition(status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonProvisioning,
			fmt.Sprintf("0 of %d Redis pods are ready", len(in.Members)))
		d.WriteBudgets, d.DeleteBudgets = planBudgets(o, nil, o.Budgets)
		d.Requeue = convergeDelay
		d.refusePorts(o)
		return d
	}

	migrating := o.Migration != nil && o.Migration.Running
	if migrating {
		in.Migrating = o.Migration.Nodes
	}
	var drainBlocked []string
	if !migrating {
		var moves []Action
		moves, drainBlocked = planDrain(in)
		failovers = append(failovers, moves...)
	}
	d.Actions = append(failovers, planCluster(in, migrating)...)
	if o.BackupRunning != "" {
		d.Actions = holdMigrations(d.Actions, o.BackupRunning)
	}
	if len(d.Actions) == 0 && !migrating {
		d.Actions = planRoll(in)
	}
	if len(d.Actions) == 0 && !migrating {
		d.Actions = planLinks(o, in)
	}
	layoutRisk := ""
	if len(d.Actions) == 0 && !migrating {
		d.Actions, layoutRisk = planSpread(in)
	}
	if d.ConfigSecret == nil {
		d.Actions = append(d.Actions, planLive(o, in)...)
	}
	labels := planLabels(o, in)
	d.Actions = append(d.Actions, labels...)
	d.Actions = append(d.Actions, planCertificates(o, in.Members)...) // last: a node that cannot reload holds nothing up
	d.WriteBudgets, d.DeleteBudgets = planBudgets(o, labels, o.Budgets)
	for i, a := range d.Actions {
		if r, ok := a.(ReplacePod); ok {
			r.Claim = o.DiscardClaims[r.Node.Index]
			d.Actions[i] = r
		}
		if t, ok := a.(AddTemporaryNode); ok {
			if rc.Spec.PersistenceEnabled() && !o.Claims[t.Index] {
				d.CreateClaims = append(d.CreateClaims, t.Index)
			}
			d.CreatePods = append(d.CreatePods, t.Index)
		}
	}
	for _, index := range WantedIndexes(rc) {
		if reason, held := hold[index]; held {
			d.Actions = append(d.Actions, WaitFor{Because(reason)})
		}
	}
	for _, a := range d.Actions {
		switch a.(type) {
		case MigrateSlots, RemoveNode:
			now := metav1.NewTime(o.Now)
			status.LastScaleTime = &now
		}
	}
	h := assessCluster(in, d.Actions, rc.Status.Nodes)
	if layoutRisk != "" {
		h.degraded = append(h.degraded, layoutRisk)
	}
	h.degraded = append(h.degraded, drainBlocked...)
	if m := o.Migration; m != nil {
		status.Migration = m.Record
		if migrating {
			progress := fmt.Sprintf("%d of %d slots moved: %s", m.Record.SlotsDone, m.Record.SlotsPlanned, m.Record.Step)
			h.notReady = append(h.notReady, progress)
			h.scaling = append(h.scaling, progress)
		}
	}
	applyHealth(status, rc.Generation, h, o.Now)
	applyRoll(status, rc.Generation, in, d.Actions)
	applyCertificates(status, rc.Generation, o)
	applyLinks(status, o, d.Actions)
	reportTLSRefused(&d, o)
	if o.UsersHeld != "" {
		reportDegraded(&d, o, ReasonUserSecretHeld, o.UsersHeld)
	}
	if migrating {
		SetCondition(status, rc.Generation, redisv1beta1.ConditionScaling, metav1.ConditionTrue, ReasonMigratingSlots,
			fmt.Sprintf("%d of %d slots moved: %s", status.Migration.SlotsDone, status.Migration.SlotsPlanned, status.Migration.Step))
	}

	d.refusePorts(o)
	refused := false
	for _, a := range d.Actions {
		if r, ok := a.(NotEnoughMemory); ok {
			refused = true
			if old := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionScaling); old == nil || old.Reason != ReasonNotEnoughMemory {
				d.Events = append(d.Events, Event{corev1.EventTypeWarning, ReasonNotEnoughMemory, r.Why()})
			}
			SetCondition(status, rc.Generation, redisv1beta1.ConditionScaling, metav1.ConditionFalse, ReasonNotEnoughMemory, r.Why())
		}
	}
	switch {
	case refused:
		// Nothing changes until the spec or the keys do; a spec change is an event of its own.
		d.Requeue = portRecheckDelay
	case onlyReloads(d.Actions):
		d.Requeue = certificateRecheckDelay
	case len(d.Actions) > 0:
		// Something will change, or Redis is converging on its own (a handshake, gossip, an
		// election): look again soon rather than at the slower not-ready pace.
		d.Requeue = settleDelay
	case !meta.IsStatusConditionTrue(status.Conditions, redisv1beta1.ConditionReady), listsLostNode(o.View):
		d.Requeue = convergeDelay
	}
	if heldFor > 0 && (d.Requeue == 0 || heldFor < d.Requeue) {
		d.Requeue = heldFor // the older passwords go then
	}
	return d
}

// listsLostNode reports whether a reachable node's table lists a node, past its handshake, that
// answers nowhere: it is forgotten once the nodes flag it failed, which no event announces.
func listsLostNode(view *topology.ClusterView) bool {
	live := view.ByID()
	for _, st := range view.Reachable() {
		for _, peer := range st.Table {
			if _, ok := live[peer.ID]; !ok && !peer.Handshake() {
				return true
			}
		}
	}
	return false
}

// onlyReloads reports whether actions are certificate reloads alone.
func onlyReloads(actions []Action) bool {
	for _, a := range actions {
		if _, ok := a.(ReloadCertificate); !ok {
			return false
		}
	}
	return len(actions) > 0
}
