package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
)

// Observation is everything one sync knows of a cluster: its objects from the listers, every
// node's own view of Redis and the state of the cluster's migration task. decide needs nothing
// else.
type Observation struct {
	Cluster *redisv1beta1.RedisCluster
	Pods    map[int]*corev1.Pod // by node index
	Claims  map[int]bool        // node indexes whose data claim exists
	// SmallClaims are the claims whose requested size is below the spec's, by node index.
	SmallClaims map[int]string
	// OtherClass are the claims of another storage class than the spec's, by node index: their
	// node is rolled onto a new claim. ClaimsGoing are claims being deleted.
	OtherClass  map[int]string
	ClaimsGoing map[int]bool
	HasService  bool
	// Cordoned are the Kubernetes nodes marked unschedulable (a drain starts so).
	Cordoned map[string]bool
	// Domains maps each Kubernetes node to its failure domain, the value of the cluster's
	// topology key on it.
	Domains map[string]string
	// Budgets maps the cluster's disruption budgets to their minAvailable.
	Budgets map[string]int32
	// ConfigSecret is the cluster's config Secret, nil before it is created.
	ConfigSecret *corev1.Secret
	// Password is the one the cluster's passwordSecret holds, "" without one.
	Password string
	// PortConflict says why the cluster may not run: another cluster holds its host ports.
	PortConflict string
	// HeldElsewhere names the nodes the spec asks for that have no pod and whose host ports
	// another cluster's pods hold: they are not created, with the reason.
	HeldElsewhere map[int]string
	// NoTemporary says why a rolling update cannot add its temporary node, if so.
	NoTemporary string
	// View is nil while no pod is ready, or when the cluster may not run.
	View *topology.ClusterView
	// Migration is the cluster's migration task, running or finished and not yet reported.
	Migration *migrationReport
	Now       time.Time
}

// observe reads what sync needs of rc. The task is read before Redis, so a finished migration
// is seen with the cluster it left behind.
func (c *Controller) observe(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster,
	password string) (*Observation, error) {
	o := &Observation{Cluster: rc, Now: time.Now(), Claims: map[int]bool{}, Password: password}
	var err error
	if o.Pods, err = c.clusterPods(rc); err != nil {
		return nil, err
	}
	if len(o.Pods) == 0 {
		if o.PortConflict, err = c.checkPorts(rc, 0); err != nil || o.PortConflict != "" {
			return o, err
		}
	}
	if o.HeldElsewhere, err = c.portsHeldElsewhere(rc, o.Pods); err != nil {
		return nil, err
	}
	if o.NoTemporary, err = c.noTemporary(rc, o.Pods); err != nil {
		return nil, err
	}
	if _, err := c.services.Services(rc.Namespace).Get(ExporterServiceName(rc)); err == nil {
		o.HasService = true
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if o.Cordoned, o.Domains, o.Budgets, err = c.placement(rc); err != nil {
		return nil, err
	}
	if secret, err := c.secrets.Secrets(rc.Namespace).Get(ConfigSecretName(rc)); err == nil {
		o.ConfigSecret = secret
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if rc.Spec.PersistenceEnabled() {
		for index := range rc.Spec.NodeCount() {
			if claim, err := c.claims.PersistentVolumeClaims(rc.Namespace).Get(ClaimName(rc, index)); err == nil {
				if claim.DeletionTimestamp != nil {
					o.ClaimsGoing = setIndex(o.ClaimsGoing, index)
					continue
				}
				o.Claims[index] = true
				if want := rc.Spec.Persistence.StorageClass; want != nil && (claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != *want) {
					if o.OtherClass == nil {
						o.OtherClass = map[int]string{}
					}
					o.OtherClass[index] = claim.Name
				}
				want := rc.Spec.PersistenceSize()
				if got := claim.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(want) < 0 {
					if o.SmallClaims == nil {
						o.SmallClaims = map[int]string{}
					}
					o.SmallClaims[index] = claim.Name
				}
			} else if !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
	}
	o.Migration = c.migrations.report(keyOf(rc), rc.UID)
	if addrs := MemberAddrs(WantedMembers(rc, o.Pods, o.Claims)); len(addrs) > 0 {
		o.View = redis.View(ctx, addrs)
	}
	return o, nil
}

// WantedIndexes are the node indexes the spec asks for.
func WantedIndexes(rc *redisv1beta1.RedisCluster) []int {
	out := make([]int, rc.Spec.NodeCount())
	for i := range out {
		out[i] = i
	}
	return out
}

// WantedMembers lists the wanted nodes, and any node above the wanted count that still has a pod, with
// the address of each pod that is ready and not going away.
func WantedMembers(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod, claims map[int]bool) []Member {
	var out []Member
	indexes := WantedIndexes(rc)
	for index := range pods {
		if index >= len(indexes) {
			indexes = append(indexes, index)
		}
	}
	for _, index := range indexes {
		m := Member{Index: index, Pod: PodName(rc, index), Port: int(rc.Spec.NodePort(index)), Extra: index >= rc.Spec.NodeCount(),
			ClaimKept: claims[index]}
		if pod, ok := pods[index]; ok {
			m.Node, m.Host = pod.Spec.NodeName, pod.Spec.NodeName
			if pod.DeletionTimestamp == nil {
				// A setting Redis takes only at start needs a new pod too.
				m.Outdated = pod.Annotations[AnnotationSpecHash] != Pod(rc, index).Annotations[AnnotationSpecHash] ||
					strings.HasPrefix(pod.Annotations[AnnotationSettings], RestartPrefix)
				m.Current = !m.Outdated
				m.PodIP = pod.Status.PodIP
				if podReady(pod) {
					m.IP = pod.Status.PodIP
				}
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

func MemberAddrs(ms []Member) []string {
	var out []string
	for _, m := range ms {
		if a := m.Addr(); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// checkPorts says which cluster holds, or which earlier cluster wants, host ports rc would
// need, if any: a cluster is judged once, before its first pod.
func (c *Controller) checkPorts(rc *redisv1beta1.RedisCluster, runningNodes int) (string, error) {
	others, err := c.clusters.List(labels.Everything())
	if err != nil {
		return "", fmt.Errorf("listing RedisClusters: %w", err)
	}
	held, err := c.portsHeldElsewhere(rc, nil)
	if err != nil || len(held) > 0 {
		return HeldMessage(held), err
	}
	ranges := func(other *redisv1beta1.RedisCluster) PortRange {
		pods, err := c.clusterPods(other)
		if err != nil {
			return HostPorts(other, 0)
		}
		return HostPorts(other, maxIndex(pods)+1)
	}
	msg, _ := FirstPortConflict(rc, HostPorts(rc, runningNodes), others, ranges)
	return msg, nil
}

// portsHeldElsewhere maps each node rc wants and has no pod for to the other cluster that holds
// one of the node's host ports (client, bus or exporter): it has a pod there, or had a node
// there (its status keeps the node's id while the pod is replaced). A cluster keeps the ports
// its nodes run on: a later change of another cluster never takes them.
func (c *Controller) portsHeldElsewhere(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod) (map[int]string, error) {
	return c.portsHeldAt(rc, pods, WantedIndexes(rc))
}

// noTemporary says why the temporary node of a rolling update (the index after the wanted
// nodes) cannot run: its ports are above 65535 or another cluster holds them.
func (c *Controller) noTemporary(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod) (string, error) {
	index := rc.Spec.NodeCount()
	if port := rc.Spec.NodePort(index) + redisv1beta1.ExporterPortOffset; port > 65535 {
		return fmt.Sprintf("its exporter port %d would be above 65535", port), nil
	}
	held, err := c.portsHeldAt(rc, pods, []int{index})
	return held[index], err
}

// portsHeldAt is portsHeldElsewhere for the given node indexes.
func (c *Controller) portsHeldAt(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod, indexes []int) (map[int]string, error) {
	others, err := c.clusters.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing RedisClusters: %w", err)
	}
	holder := map[int32]string{}
	for _, other := range others {
		if other.UID == rc.UID || other.DeletionTimestamp != nil {
			continue
		}
		theirs, err := c.clusterPods(other)
		if err != nil {
			return nil, err
		}
		held := map[int]bool{}
		for index := range theirs {
			held[index] = true
		}
		for _, n := range other.Status.Nodes {
			if index := int(n.Port - other.Spec.BasePort); n.NodeID != "" && index >= 0 {
				held[index] = true
			}
		}
		for index := range held {
			for _, port := range NodePorts(other, index) {
				holder[port] = other.Namespace + "/" + other.Name
			}
		}
	}
	out := map[int]string{}
	for _, index := range indexes {
		if _, exists := pods[index]; exists {
			continue
		}
		for _, port := range NodePorts(rc, index) {
			if name, held := holder[port]; held {
				out[index] = fmt.Sprintf("port %d of node %d is held by RedisCluster %s", port, index, name)
				break
			}
		}
	}
	return out, nil
}

// HeldMessage says which nodes cannot be created and why, in node order.
func HeldMessage(held map[int]string) string {
	indexes := make([]int, 0, len(held))
	for index := range held {
		indexes = append(indexes, index)
	}
	sort.Ints(indexes)
	parts := make([]string, len(indexes))
	for i, index := range indexes {
		parts[i] = held[index]
	}
	return "host ports taken: " + JoinBounded(parts, MaxConditionMessage/2) +
		"; those nodes are not created: choose another basePort, or a size that fits"
}

// placement reads the Kubernetes nodes being emptied (cordoned) and rc's disruption budgets.
func (c *Controller) placement(rc *redisv1beta1.RedisCluster) (map[string]bool, map[string]string, map[string]int32, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing nodes: %w", err)
	}
	cordoned, domains := map[string]bool{}, map[string]string{}
	key := rc.Spec.TopologyKeyOrDefault()
	for _, n := range nodes {
		if Leaving(n) {
			cordoned[n.Name] = true
		}
		if domain, ok := n.Labels[key]; ok {
			domains[n.Name] = domain
		}
	}
	list, err := c.budgets.PodDisruptionBudgets(rc.Namespace).List(ClusterSelector(rc))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing disruption budgets: %w", err)
	}
	budgets := map[string]int32{}
	for _, b := range list {
		if owner := metav1.GetControllerOf(b); owner != nil && owner.UID == rc.UID {
			budgets[b.Name] = -1
			if b.Spec.MinAvailable != nil {
				budgets[b.Name] = b.Spec.MinAvailable.IntVal
			}
		}
	}
	return cordoned, domains, budgets, nil
}

func setIndex(set map[int]bool, index int) map[int]bool {
	if set == nil {
		set = map[int]bool{}
	}
	set[index] = true
	return set
}
