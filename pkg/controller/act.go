package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
)

// act carries out a decision: the Kubernetes objects first, then the Redis actions in order,
// recording Events for what it did (one for all of a pass's meetings). It stops at the first
// error: the next sync decides again from the live cluster.
func (c *Controller) act(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster,
	o *plan.Observation, d *plan.Decision) (plan.Outcome, error) {
	var done plan.Outcome
	view := o.View
	for _, e := range d.Events {
		c.recordEvent(rc, e.Type, e.Reason, "%s", e.Message)
	}
	if d.ConfigSecret != nil {
		err := c.probeSettings(ctx, rc, redis, o, d.ConfigSecret)
		if err == nil {
			err = c.probeUsers(ctx, redis, o, d.ConfigSecret)
		}
		var refused *refusedSettings
		switch {
		case errors.As(err, &refused):
			done.ConfigRefused = refused.Error()
			c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonConfigRefused, "%s", refused.Error())
		case err != nil:
			return done, err
		default:
			if err := c.writeOwnedSecret(ctx, rc, d.ConfigSecret, o.ConfigSecret); err != nil {
				c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonConfigSecret, "%v", err)
				return done, err
			}
		}
	}
	if d.CreateService {
		if err := c.createExporterService(ctx, rc); err != nil {
			return done, err
		}
	}
	if err := c.writeBudgets(ctx, rc, d.WriteBudgets, d.DeleteBudgets); err != nil {
		return done, err
	}
	// A refused or failed expansion, or a claim delete that failed, holds nothing else back; a
	// failure is returned after the rest, to be retried.
	refused, later := c.expandClaims(ctx, rc, d.ExpandClaims)
	if refused != "" {
		done.ClaimsNotExpanded = refused
		if ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady); ready == nil || !strings.Contains(ready.Message, refused) {
			c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonClaimNotExpanded, "%s", refused)
		}
	}
	for _, index := range d.CreateClaims {
		if err := c.createClaim(ctx, rc, index); err != nil {
			return done, err
		}
	}
	for _, index := range d.CreatePods {
		if err := c.createNodePod(ctx, rc, index, d.PodAnnotations); err != nil {
			return done, err
		}
	}
	if err := c.deleteUnusedClaims(ctx, rc, d.DeleteClaims); err != nil {
		later = errors.Join(later, err)
	}

	var repairs []plan.RepairSlot
	var met meetings
	defer func() { met.report(c, rc) }()
	for _, a := range d.Actions {
		var err error
		switch a := a.(type) {
		case plan.WaitFor, plan.WaitForData, plan.WaitForBackup, plan.NotEnoughMemory, plan.AddTemporaryNode:
			continue // a temporary node's pod is among the decision's pods
		case plan.ReplacePod:
			err = c.deleteOutdated(ctx, rc, redis, a)
		case plan.LabelPod:
			err = c.setLabels(ctx, rc, a)
		case plan.ApplySettings:
			err = c.setLiveSettings(ctx, rc, redis, a)
		case plan.ApplyPassword:
			err = c.stepPassword(ctx, rc, redis, a)
		case plan.ReloadCertificate:
			err = c.reloadCertificate(ctx, rc, redis, a)
		case plan.SwitchTLS:
			err = c.switchLinks(ctx, rc, redis, a, &done)
		case plan.MeetNode:
			err = redis.Meet(ctx, a.Addr, a.Peer.IP, a.Peer.Port, a.Peer.Port+redisv1beta1.BusPortOffset)
			if err == nil {
				met.add(a.Addr, a.Peer.Addr())
			}
		case plan.AddSlots:
			err = redis.AddSlots(ctx, a.Addr, a.Ranges, a.Epoch)
			c.recordIf(err, rc, plan.ReasonAssignedSlots, "Assigned slots %s to %s", strings.Join(topology.FormatRanges(a.Ranges), ","), a.Addr)
		case plan.ClaimLostSlots:
			err = redis.ClaimSlots(ctx, view.Nodes[a.Addr], a.Ranges)
			if err == nil {
				done.SlotsGivenEmpty = append(done.SlotsGivenEmpty, topology.FormatRanges(a.Ranges)...)
				for _, r := range a.Ranges {
					for slot := r.Start; slot <= r.End; slot++ {
						done.LostKeys = append(done.LostKeys, slot)
					}
				}
				what := fmt.Sprintf("slots %s had no live owner (a master died with no replica); assigned them empty to %s: their keys are lost",
					strings.Join(topology.FormatRanges(a.Ranges), ","), a.Addr)
				c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonSlotsLost, "%s", what)
				done.Notes = append(done.Notes, what)
			}
		case plan.Replicate:
			err = redis.Replicate(ctx, a.Addr, a.MasterID)
			c.recordIf(err, rc, plan.ReasonAttachedReplica, "%s: %s replicates %s", a.Why(), a.Addr, plan.ShortID(a.MasterID))
		case plan.ForgetNode:
			err = redis.ForgetEverywhere(ctx, view, a.ID)
			c.recordIf(err, rc, plan.ReasonForgotNode, "Forgot node %s on every node: %s", plan.ShortID(a.ID), a.Why())
		case plan.Failover:
			err = redis.Failover(ctx, a.Addr, a.Mode)
			reason := plan.ReasonForcedFailover
			if a.Mode == topology.FailoverGraceful {
				reason = plan.ReasonHandedOverMaster
			}
			c.recordIf(err, rc, reason, "%s", a.Why())
			noteDone(&done, err, a.Why())
		case plan.MigrateSlots:
			c.startMigration(c.taskContext(ctx), rc, d.Status.Migration, redis, view, a.Moves)
		case plan.RemoveNode:
			err = c.forgetAndDelete(ctx, rc, redis, view, a)
		case plan.PointOwner:
			err = redis.PointOwner(ctx, a.Addr, a.Slots, a.OwnerID)
			c.recordIf(err, rc, plan.ReasonRepairedSlot, "%s: %s", a.Why(), topology.SlotList(a.Slots))
			noteDone(&done, err, a.Why())
		case plan.RepairSlot:
			repairs = append(repairs, a)
		default:
			err = fmt.Errorf("no executor for %T", a)
		}
		if err != nil {
			c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonRedisError, "%s failed: %v", a.Why(), err)
			done.Notes = append(done.Notes, fmt.Sprintf("%s failed: %v", a.Why(), err))
			return done, err
		}
	}
	if len(repairs) > 0 {
		c.startRepairs(c.taskContext(ctx), rc, d.Status.Migration, redis, view, repairs)
	}
	return done, later
}

// forgetAndDelete forgets a node above the wanted count on every other node and deletes its pod and,
// with persistence, its claim: the node owned no slot, and a later node at its index must not
// start as the forgotten one.
func (c *Controller) forgetAndDelete(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster,
	view *topology.ClusterView, a plan.RemoveNode) error {
	if err := redis.ForgetEverywhere(ctx, view, a.ID); err != nil {
		return err
	}
	err := c.kubeClient.CoreV1().Pods(rc.Namespace).Delete(ctx, a.Node.Pod, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting pod %s: %w", a.Node.Pod, err)
	}
	redis.Drop(a.Node.Addr())
	what := "pod " + a.Node.Pod
	if a.Node.ClaimKept || rc.Spec.PersistenceEnabled() {
		claim := objects.ClaimName(rc, a.Node.Index)
		err := c.kubeClient.CoreV1().PersistentVolumeClaims(rc.Namespace).Delete(ctx, claim, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting claim %s: %w", claim, err)
		}
		what += " and claim " + claim
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonRemovedNode, "Removed node %d (%s): forgot %s and deleted %s",
		a.Node.Index, a.Node.Addr(), plan.ShortID(a.ID), what)
	return nil
}

// deleteOutdated deletes the pod of a node built from an older spec, and the claim it must not
// mount again; the next sync creates it from the current one. The node is read again first: the
// plan is a moment old, and a node that owns slots again is neither stopped nor wiped. The
// delete names the pod's UID, so a pod already replaced is left alone.
func (c *Controller) deleteOutdated(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a plan.ReplacePod) error {
	pod, err := c.pods.Pods(rc.Namespace).Get(a.Node.Pod)
	if err != nil {
		return fmt.Errorf("reading pod %s: %w", a.Node.Pod, err)
	}
	if why := ownsSlotsNow(ctx, redis, a.Node.Addr()); why != "" {
		c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonKeptPod, "Pod %s of node %d not replaced: %s; the next sync decides again",
			pod.Name, a.Node.Index, why)
		return nil
	}
	if a.Claim != "" {
		// The claim goes once the pod is gone (its protection finalizer waits for that).
		err := c.kubeClient.CoreV1().PersistentVolumeClaims(rc.Namespace).Delete(ctx, a.Claim, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting claim %s the node must not mount again: %w", a.Claim, err)
		}
	}
	err = c.kubeClient.CoreV1().Pods(rc.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	if len(a.Toward) > 0 {
		c.spreadTries.Store(cache.MetaObjectToName(rc), &plan.SpreadTry{Pod: pod.Name, OldUID: string(pod.UID), Toward: a.Toward, At: time.Now()})
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonReplacedPod, "%s", a.Why())
	return nil
}

// ownsSlotsNow says why the node at addr may not be stopped right now: it does not answer, or it
// is a master that owns slots.
func ownsSlotsNow(ctx context.Context, redis redisops.Cluster, addr string) string {
	state := redis.View(ctx, []string{addr}).Nodes[addr]
	if state == nil || state.Err != nil {
		return "it does not answer"
	}
	self, ok := state.Self()
	if !ok {
		return "it does not answer"
	}
	if self.Master() && len(self.Slots) > 0 {
		return "it is a master that owns slots"
	}
	return ""
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
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonMetNode, "Introduced nodes: %s", strings.Join(parts, "; "))
}

// noteDone keeps what a successful repair did.
func noteDone(done *plan.Outcome, err error, what string) {
	if err == nil {
		done.Notes = append(done.Notes, what)
	}
}

func (c *Controller) recordIf(err error, rc *redisv1beta1.RedisCluster, reason, format string, args ...interface{}) {
	if err == nil {
		c.recordEvent(rc, corev1.EventTypeNormal, reason, format, args...)
	}
}
