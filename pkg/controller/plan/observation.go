package plan

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/conf"
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
	// DiscardClaims are claims no pod may mount again, by node index: of another storage class
	// than the spec's, or left from before persistence was turned off (the node's pod runs
	// without one), whose nodes.conf names a node the cluster has forgotten. Their node is
	// rolled onto a new claim. ClaimsGoing are claims being deleted.
	DiscardClaims map[int]string
	ClaimsGoing   map[int]bool
	// UnusedClaims are the cluster's claims no pod mounts while persistence is off: deleted, so
	// that turning it on again starts every node afresh.
	UnusedClaims []string
	HasService   bool
	// LeavingNodes are the Kubernetes nodes being emptied: cordoned (a drain starts so) or tainted
	// by an autoscaler that removes them.
	LeavingNodes map[string]bool
	// Domains maps each Kubernetes node to its failure domain, the value of the cluster's
	// topology key on it.
	Domains map[string]string
	// Budgets maps the cluster's disruption budgets to their minAvailable.
	Budgets map[string]int32
	// ConfigSecret is the cluster's config Secret, nil before it is created.
	ConfigSecret *corev1.Secret
	// Password is the one the cluster's passwordSecret holds, "" without one.
	Password string
	// MonitorPassword is the exporter user's: the config Secret's, or one made for a cluster
	// whose Secret has none yet.
	MonitorPassword string
	// Users are the spec's ACL users with their passwords' SHA-256, as the config Secret is to
	// hold them; UsersHeld says which user Secrets could not be read: those users are as the
	// config Secret had them, or not there.
	Users     []conf.User
	UsersHeld string
	// Restore is a restore under way, nil otherwise.
	Restore *RestoreState
	// BackupRunning names a backup streaming the cluster's shards: slots do not move meanwhile.
	BackupRunning string
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
	Migration *MigrationProgress
	// SpreadTry is the last pod replaced to spread the shards, if the controller remembers one.
	SpreadTry *SpreadTry
	// SlotMemory is what the keys of the slots that a scale would move take on their sources
	// (MovingSlots), read before the move is decided; nil when none would move or not read.
	SlotMemory *topology.SlotMemory
	// CertificateVersion is the version of the files the node-certificate Secret holds
	// (objects.CertificateVersion), which every node is to run.
	CertificateVersion string
	// Certificate is the certificate a TLS cluster's Secret holds, nil for a plain cluster.
	Certificate *redisv1beta1.CertificateStatus
	// ServedCertificates are the certificates nodes served at a handshake this sync, by address:
	// those CertificatesToCheck named.
	ServedCertificates map[string]redisv1beta1.CertificateStatus
	// TLSRefused says why the TLS Secret's certificate cannot be used; Certificate is then the
	// one the operator's connections had.
	TLSRefused string
	Now        time.Time
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
		m := Member{Index: index, Pod: objects.PodName(rc, index), Port: int(rc.Spec.NodePort(index)), Extra: index >= rc.Spec.NodeCount(),
			ClaimKept: claims[index]}
		if pod, ok := pods[index]; ok {
			m.Extra = m.Extra || pod.Annotations[objects.AnnotationTemporary] == "true"
			m.Node, m.Domain = pod.Spec.NodeName, pod.Spec.NodeName
			if pod.DeletionTimestamp == nil {
				// A setting Redis takes only at start needs a new pod too.
				m.Outdated = pod.Annotations[objects.AnnotationSpecHash] != objects.Pod(rc, index).Annotations[objects.AnnotationSpecHash] ||
					strings.HasPrefix(pod.Annotations[objects.AnnotationSettings], objects.RestartPrefix)
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

// temporaryIndex is the index of the rolling update's temporary node: the index after the wanted
// nodes, or that of a temporary pod a scale-out has since made a wanted index.
func temporaryIndex(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod) int {
	for index, pod := range pods {
		if index < rc.Spec.NodeCount() && pod.Annotations[objects.AnnotationTemporary] == "true" {
			return index
		}
	}
	return rc.Spec.NodeCount()
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

// FirstAnswering is the address of the first node, by index, that answered; "" when none did.
func FirstAnswering(o *Observation) string {
	if o.View == nil {
		return ""
	}
	if nodes := plannerInput(o.Cluster, o).reachable(); len(nodes) > 0 {
		return nodes[0].Addr()
	}
	return ""
}

// MovingSlots are the slots that spreading the slots over masters would move, by the address
// of the node that holds them; nil when none would, or when o cannot tell.
func MovingSlots(o *Observation, masters int32) map[string][]int {
	if o.View == nil {
		return nil
	}
	rc := o.Cluster.DeepCopy()
	rc.Spec.Masters = masters
	in := plannerInput(rc, o)
	nodes := in.reachable()
	owners, _ := o.View.SlotOwners()
	_, moves, _ := scaleMoves(in, nodes, &owners)
	addrs := map[string]string{}
	for _, n := range nodes {
		addrs[n.Self.ID] = n.Addr()
	}
	var out map[string][]int
	for _, m := range moves {
		if addr := addrs[m.Source]; addr != "" {
			if out == nil {
				out = map[string][]int{}
			}
			out[addr] = append(out[addr], m.Slot)
		}
	}
	return out
}

// MemoryRefusal says why the cluster o saw cannot spread its slots over masters within the
// masters' maxmemory; "" when it can, or when o cannot tell.
func MemoryRefusal(o *Observation, masters int32) string {
	if o.View == nil {
		return ""
	}
	rc := o.Cluster.DeepCopy()
	rc.Spec.Masters = masters
	in := plannerInput(rc, o)
	owners, _ := o.View.SlotOwners()
	for _, a := range planScale(in, in.reachable(), &owners) {
		if refused, ok := a.(NotEnoughMemory); ok {
			return refused.Why()
		}
	}
	return ""
}

// RestoreState is a restore under way: shard K of the backup is put in place on node K.
type RestoreState struct {
	// Slots are shard K's slot ranges in the backup, by K.
	Slots [][]topology.SlotRange
	// Hold says why nothing may touch the nodes yet: a node that has not loaded its shard would
	// take slots it does not hold, and one that did must not lose its keys to a slot table.
	Hold string
}
