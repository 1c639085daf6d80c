package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
)

// Ready condition reasons before Redis is involved.
const (
	ReasonProvisioning = "Provisioning"
)

// Requeue delays while the cluster converges; Redis state changes raise no Kubernetes event.
const (
	settleDelay   = 300 * time.Millisecond
	convergeDelay = time.Second
	// portRecheckDelay: a refused cluster looks again whether the ports were freed.
	portRecheckDelay = 10 * time.Second
)

// sync reconciles one RedisCluster: the Kubernetes objects from the listers, then the Redis
// Cluster from every node's own view, then status. It never modifies objects from the cache.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	rc, err := c.clusterFor(key)
	if err != nil {
		return err
	}
	if rc == nil {
		c.admins.close(key)
		c.metrics.forgetCluster(key.Namespace, key.Name)
		return nil
	}
	if rc.DeletionTimestamp != nil {
		return nil
	}
	status := rc.Status.DeepCopy()
	status.ObservedGeneration = rc.Generation
	status.Selector = clusterSelector(rc).String()

	pods, err := c.clusterPods(rc)
	if err != nil {
		return err
	}
	if msg, conflict, err := c.checkPorts(rc, maxIndex(pods)+1); err != nil {
		return err
	} else if conflict {
		if old := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady); old == nil || old.Reason != ReasonPortConflict {
			c.recordEvent(rc, corev1.EventTypeWarning, ReasonPortConflict, "Not created: %s", msg)
		}
		setCondition(status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonPortConflict, msg)
		c.queue.AddAfter(key, portRecheckDelay) // the other cluster may go away
		return c.updateStatus(ctx, rc, *status)
	}
	if err := c.ensureExporterService(ctx, rc); err != nil {
		return err
	}

	// Read Redis before re-creating lost pods: a lost master's pod waits for its failover.
	o := &observed{
		Members:       members(rc, pods),
		Masters:       int(rc.Spec.Masters),
		Replicas:      int(rc.Spec.Replicas),
		LinkDownLimit: 2 * int(rc.Spec.NodeTimeoutMillis()/1000+1),
		NodeTimeout:   time.Duration(rc.Spec.NodeTimeoutMillis()) * time.Millisecond,
		Now:           time.Now(),
	}
	var admin *redisops.Admin
	if readyMembers(o.Members) > 0 {
		if admin, err = c.adminFor(ctx, rc); err != nil {
			return err
		}
		o.View = redisops.FetchView(ctx, admin, memberAddrs(o.Members))
	}
	present := map[int]bool{}
	for index := range pods {
		present[index] = true
	}
	hold, failovers := awaitingFailover(rc, o, present)
	var create []int
	for _, index := range wantedIndexes(rc) {
		if _, held := hold[index]; !held {
			create = append(create, index)
		}
	}
	if pods, err = c.ensureNodePods(ctx, rc, pods, create); err != nil {
		return err
	}
	o.Members = members(rc, pods)

	if o.View == nil {
		setCondition(status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonProvisioning,
			fmt.Sprintf("0 of %d Redis pods are ready", len(o.Members)))
		c.queue.AddAfter(key, convergeDelay)
		return c.updateStatus(ctx, rc, *status)
	}
	p := planCluster(o)
	p.Actions = append(failovers, p.Actions...)
	for _, index := range wantedIndexes(rc) {
		if reason, held := hold[index]; held {
			p.Actions = append(p.Actions, action{Kind: actWait, Reason: reason})
		}
	}
	for _, a := range p.Actions {
		if a.Kind == actMigrate || a.Kind == actRemove {
			now := metav1.Now()
			status.LastScaleTime = &now
			break
		}
	}
	done, execErr := c.execute(ctx, rc, admin, o.View, p)
	status.Migration = recordMigration(status.Migration, done)

	applyHealth(status, rc.Generation, assessCluster(o, p, rc.Status.Nodes), done.lostSlots, time.Now())
	if err := c.updateStatus(ctx, rc, *status); err != nil {
		return err
	}
	if execErr != nil {
		return execErr
	}
	switch {
	case done.actions > 0 || p.waits():
		// Something changed, or Redis is converging on its own (a handshake, gossip, an
		// election): look again soon rather than at the slower not-ready pace.
		c.queue.AddAfter(key, settleDelay)
	case !meta.IsStatusConditionTrue(status.Conditions, redisv1beta1.ConditionReady):
		c.queue.AddAfter(key, convergeDelay)
	}
	return nil
}

// wantedIndexes are the node indexes the spec asks for.
func wantedIndexes(rc *redisv1beta1.RedisCluster) []int {
	out := make([]int, rc.Spec.NodeCount())
	for i := range out {
		out[i] = i
	}
	return out
}

// members lists the wanted nodes, and any node above the wanted count that still has a pod, with
// the address of each pod that is ready and not going away.
func members(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod) []member {
	var out []member
	indexes := wantedIndexes(rc)
	for index := range pods {
		if index >= len(indexes) {
			indexes = append(indexes, index)
		}
	}
	for _, index := range indexes {
		m := member{Index: index, Pod: PodName(rc, index), Port: int(rc.Spec.NodePort(index)), Extra: index >= rc.Spec.NodeCount()}
		if pod, ok := pods[index]; ok {
			m.Host = pod.Spec.NodeName
			if pod.DeletionTimestamp == nil && podReady(pod) {
				m.IP = pod.Status.PodIP
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyMembers(ms []member) int {
	n := 0
	for _, m := range ms {
		if m.IP != "" {
			n++
		}
	}
	return n
}

func memberAddrs(ms []member) []string {
	var out []string
	for _, m := range ms {
		if a := m.Addr(); a != "" {
			out = append(out, a)
		}
	}
	return out
}
