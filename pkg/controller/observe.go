package controller

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
)

// observe reads what sync needs of rc. The task is read before Redis, so a finished migration
// is seen with the cluster it left behind.
func (c *Controller) observe(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster,
	password string, creds *redisops.TLSCredentials) (*plan.Observation, *migrationReport, error) {
	o, err := c.observeObjects(rc, password)
	if err != nil || o.PortConflict != "" {
		return o, nil, err
	}
	report := c.migrations.report(keyOf(rc), rc.UID)
	if report != nil {
		o.Migration = &report.MigrationProgress
	}
	observeRedis(ctx, redis, o)
	observeCertificates(ctx, redis, o, creds)
	if o.Migration == nil || !o.Migration.Running {
		c.readSlotMemory(ctx, redis, o, rc.Spec.Masters)
	}
	return o, report, nil
}

// observeRedis reads every wanted node's own view of the cluster.
func observeRedis(ctx context.Context, redis redisops.Cluster, o *plan.Observation) {
	if addrs := plan.MemberAddrs(plan.WantedMembers(o.Cluster, o.Pods, o.Claims)); len(addrs) > 0 {
		o.View = redis.View(ctx, addrs)
		redis.ReadConfig(ctx, o.View, plan.ReadBackDirectives(o))
	}
}

// observeCertificates records the certificate a TLS cluster's Secret holds and asks, by a
// handshake, the nodes whose status names another which certificate they serve.
func observeCertificates(ctx context.Context, redis redisops.Cluster, o *plan.Observation, creds *redisops.TLSCredentials) {
	if creds == nil {
		return
	}
	want := certificateStatus(creds.Leaf)
	o.Certificate = &want
	o.ServedCertificates = map[string]redisv1beta1.CertificateStatus{}
	for _, addr := range plan.CertificatesToCheck(o) {
		if served, err := redis.ServedCertificate(ctx, addr); err == nil {
			o.ServedCertificates[addr] = certificateStatus(served)
		}
	}
}

// certificateStatus names cert as the status does.
func certificateStatus(cert *x509.Certificate) redisv1beta1.CertificateStatus {
	return redisv1beta1.CertificateStatus{Serial: cert.SerialNumber.Text(16), NotAfter: metav1.NewTime(cert.NotAfter)}
}

// readSlotMemory estimates, on each source, what the keys of the slots that spreading the slots
// over masters would move take. A source that cannot tell leaves its slots to the plan's
// rougher estimate.
func (c *Controller) readSlotMemory(ctx context.Context, redis redisops.Cluster, o *plan.Observation, masters int32) {
	moving := plan.MovingSlots(o, masters)
	if len(moving) == 0 {
		return
	}
	est := &topology.SlotMemory{}
	for _, addr := range slices.Sorted(maps.Keys(moving)) {
		m, err := redis.SlotMemory(ctx, addr, moving[addr])
		if err != nil {
			c.log.Debug().Err(err).Str("namespace", o.Cluster.Namespace).Str("cluster", o.Cluster.Name).Str("node", addr).
				Msg("estimating the memory of slots to move")
			continue
		}
		est.Add(m)
	}
	o.SlotMemory = est
}

// observeObjects reads rc's objects from the informers' caches: everything observe needs but
// the migration task and Redis.
func (c *Controller) observeObjects(rc *redisv1beta1.RedisCluster, password string) (*plan.Observation, error) {
	o := &plan.Observation{Cluster: rc, Now: time.Now(), Claims: map[int]bool{}, Password: password}
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
	if _, err := c.services.Services(rc.Namespace).Get(objects.ExporterServiceName(rc)); err == nil {
		o.HasService = true
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if o.LeavingNodes, o.Domains, o.Budgets, err = c.placement(rc); err != nil {
		return nil, err
	}
	if o.BackupRunning, err = c.backupRunning(rc); err != nil {
		return nil, err
	}
	if try, ok := c.spreadTries.Load(cache.MetaObjectToName(rc)); ok {
		o.SpreadTry = try.(*plan.SpreadTry)
	}
	if secret, err := c.secrets.Secrets(rc.Namespace).Get(objects.ConfigSecretName(rc)); err == nil {
		o.ConfigSecret = secret
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	o.Users, o.UsersHeld = c.usersOf(rc, o.ConfigSecret)
	// Made here, not in the decision, which must give the same answer for the same input.
	if o.MonitorPassword = objects.MonitorPassword(o.ConfigSecret); o.MonitorPassword == "" {
		o.MonitorPassword = newMonitorPassword()
	}
	if rc.Spec.PersistenceEnabled() {
		for index := range rc.Spec.NodeCount() {
			if claim, err := c.claims.PersistentVolumeClaims(rc.Namespace).Get(objects.ClaimName(rc, index)); err == nil {
				if claim.DeletionTimestamp != nil {
					o.ClaimsGoing = setIndex(o.ClaimsGoing, index)
					continue
				}
				o.Claims[index] = true
				want := rc.Spec.Persistence.StorageClass
				otherClass := want != nil && (claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != *want)
				pod, hasPod := o.Pods[index]
				if otherClass || (hasPod && !mountsClaim(pod, claim.Name)) {
					if o.DiscardClaims == nil {
						o.DiscardClaims = map[int]string{}
					}
					o.DiscardClaims[index] = claim.Name
				}
				if got := claim.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(rc.Spec.PersistenceSize()) < 0 {
					if o.SmallClaims == nil {
						o.SmallClaims = map[int]string{}
					}
					o.SmallClaims[index] = claim.Name
				}
			} else if !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
	} else if o.UnusedClaims, err = c.unusedClaims(rc, o.Pods); err != nil {
		return nil, err
	}
	return o, nil
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
		return plan.HeldMessage(held), err
	}
	ranges := func(other *redisv1beta1.RedisCluster) plan.PortRange {
		pods, err := c.clusterPods(other)
		if err != nil {
			return plan.HostPorts(other, 0)
		}
		return plan.HostPorts(other, maxIndex(pods)+1)
	}
	msg, _ := plan.FirstPortConflict(rc, plan.HostPorts(rc, runningNodes), others, ranges)
	return msg, nil
}

// portsHeldElsewhere maps each node rc wants and has no pod for to the other cluster that holds
// one of the node's host ports (client, bus or exporter): it has a pod there, or had a node
// there (its status keeps the node's id while the pod is replaced). A cluster keeps the ports
// its nodes run on: a later change of another cluster never takes them.
func (c *Controller) portsHeldElsewhere(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod) (map[int]string, error) {
	return c.portsHeldAt(rc, pods, plan.WantedIndexes(rc))
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
			for _, port := range plan.NodePorts(other, index) {
				holder[port] = other.Namespace + "/" + other.Name
			}
		}
	}
	out := map[int]string{}
	for _, index := range indexes {
		if _, exists := pods[index]; exists {
			continue
		}
		for _, port := range plan.NodePorts(rc, index) {
			if name, held := holder[port]; held {
				out[index] = fmt.Sprintf("port %d of node %d is held by RedisCluster %s", port, index, name)
				break
			}
		}
	}
	return out, nil
}

// placement reads the Kubernetes nodes being emptied (cordoned) and rc's disruption budgets.
func (c *Controller) placement(rc *redisv1beta1.RedisCluster) (map[string]bool, map[string]string, map[string]int32, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing nodes: %w", err)
	}
	leaving, domains := map[string]bool{}, map[string]string{}
	key := rc.Spec.TopologyKeyOrDefault()
	for _, n := range nodes {
		if plan.Leaving(n) {
			leaving[n.Name] = true
		}
		if domain, ok := n.Labels[key]; ok {
			domains[n.Name] = domain
		}
	}
	list, err := c.budgets.PodDisruptionBudgets(rc.Namespace).List(objects.ClusterSelector(rc))
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
	return leaving, domains, budgets, nil
}

func setIndex(set map[int]bool, index int) map[int]bool {
	if set == nil {
		set = map[int]bool{}
	}
	set[index] = true
	return set
}

// unusedClaims names rc's claims that no pod of rc mounts and that are not being deleted.
func (c *Controller) unusedClaims(rc *redisv1beta1.RedisCluster, pods map[int]*corev1.Pod) ([]string, error) {
	list, err := c.claims.PersistentVolumeClaims(rc.Namespace).List(objects.ClusterSelector(rc))
	if err != nil {
		return nil, fmt.Errorf("listing claims of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	var out []string
	for _, claim := range list {
		if owner := metav1.GetControllerOf(claim); owner == nil || owner.UID != rc.UID || claim.DeletionTimestamp != nil {
			continue
		}
		used := false
		for _, pod := range pods {
			used = used || mountsClaim(pod, claim.Name)
		}
		if !used {
			out = append(out, claim.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// mountsClaim reports whether pod has the claim named name among its volumes.
func mountsClaim(pod *corev1.Pod, name string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name {
			return true
		}
	}
	return false
}

// backupRunning names a backup of rc whose shards are being streamed.
func (c *Controller) backupRunning(rc *redisv1beta1.RedisCluster) (string, error) {
	if c.backups == nil {
		return "", nil
	}
	list, err := c.backups.RedisClusterBackups(rc.Namespace).List(labels.Everything())
	if err != nil {
		return "", fmt.Errorf("listing backups: %w", err)
	}
	for _, b := range list {
		if b.Spec.ClusterName == rc.Name && b.Status.Phase == redisv1beta1.BackupRunning {
			return b.Name, nil
		}
	}
	return "", nil
}
