package controller

import (
	"context"
	"errors"
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
	"redis-operator/pkg/controller/backups"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops/topology"
)

// Event reasons of restores.
const (
	ReasonRestoreFailed = "RestoreFailed"
	ReasonRestored      = "Restored"
)

// restoreSource is where spec.restore's backup is: a destination, the backup's folder in it
// and that folder's parent as the store's prefix.
type restoreSource struct {
	dest              *redisv1beta1.BackupDestination
	storePrefix, name string
}

func (c *Controller) restoreSourceOf(rc *redisv1beta1.RedisCluster) (*restoreSource, error) {
	r := rc.Spec.Restore
	if r.Destination != nil {
		prefix := path.Dir(r.Destination.Prefix)
		if prefix == "." {
			prefix = ""
		}
		return &restoreSource{dest: r.Destination, storePrefix: prefix, name: path.Base(r.Destination.Prefix)}, nil
	}
	if c.backups == nil {
		return nil, errors.New("this operator does not watch RedisClusterBackups")
	}
	b, err := c.backups.RedisClusterBackups(rc.Namespace).Get(r.BackupName)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("RedisClusterBackup %s not found", r.BackupName)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case b.Status.Phase == redisv1beta1.BackupFailed:
		return nil, fmt.Errorf("RedisClusterBackup %s failed: %s", b.Name, b.Status.Message)
	case b.Status.Phase != redisv1beta1.BackupSucceeded || b.Status.Destination == nil:
		return nil, errBackupRunning(b.Name)
	}
	return &restoreSource{dest: b.Status.Destination, storePrefix: backups.StorePrefix(b.Status.Destination, b.Namespace), name: b.Name}, nil
}

// errBackupRunning is a restore's backup that has not ended yet: the restore waits for it.
type errBackupRunning string

func (e errBackupRunning) Error() string {
	return "waiting for RedisClusterBackup " + string(e) + " to succeed"
}

// restoring returns rc as a sync of a restored cluster sees it: until the restore succeeded it
// has the backup's shard count as masters, and its status lists the backup's shards, read from
// the manifest the first time.
func (c *Controller) restoring(ctx context.Context, rc *redisv1beta1.RedisCluster) (*redisv1beta1.RedisCluster, error) {
	if rc.Spec.Restore == nil || (rc.Status.Restore != nil && rc.Status.Restore.Phase == redisv1beta1.RestoreSucceeded) {
		return rc, nil
	}
	rc = rc.DeepCopy()
	if st := rc.Status.Restore; st == nil || (st.Phase == redisv1beta1.RestoreRunning && len(st.Shards) == 0) {
		st, err := c.readManifest(ctx, rc)
		if err != nil {
			return nil, err
		}
		rc.Status.Restore = st
		if st.Phase == redisv1beta1.RestoreFailed {
			c.recordEvent(rc, corev1.EventTypeWarning, ReasonRestoreFailed, "%s", st.Message)
		}
	}
	if n := int32(len(rc.Status.Restore.Shards)); n > 0 {
		rc.Spec.Masters = n
	}
	return rc, nil
}

// readManifest is the restore's status from the backup's manifest; Failed when the backup cannot
// be restored, an error when the store could not be asked.
func (c *Controller) readManifest(ctx context.Context, rc *redisv1beta1.RedisCluster) (*redisv1beta1.RestoreStatus, error) {
	failed := func(format string, args ...any) (*redisv1beta1.RestoreStatus, error) {
		return &redisv1beta1.RestoreStatus{Phase: redisv1beta1.RestoreFailed, Message: fmt.Sprintf(format, args...)}, nil
	}
	src, err := c.restoreSourceOf(rc)
	var waiting errBackupRunning
	if errors.As(err, &waiting) {
		return &redisv1beta1.RestoreStatus{Phase: redisv1beta1.RestoreRunning, Message: err.Error()}, nil
	}
	if err != nil {
		return failed("%v", err)
	}
	location := backups.Location(src.dest, src.storePrefix, src.name)
	store, err := backups.OpenDestination(ctx, c.secrets, c.openStore, rc.Namespace, src.dest, src.storePrefix)
	if err != nil {
		return nil, err
	}
	m, err := store.ReadManifest(ctx, src.name)
	if errors.Is(err, backup.ErrNoManifest) {
		return failed("%s holds no manifest: no backup was completed there", location)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the manifest at %s: %w", location, err)
	}
	st := &redisv1beta1.RestoreStatus{Phase: redisv1beta1.RestoreRunning, Location: location}
	for _, s := range m.Shards {
		st.Shards = append(st.Shards, redisv1beta1.BackupShard{Index: int32(s.Index), Slots: s.Slots, NodeID: s.NodeID,
			Source: s.Source, Object: path.Join(src.storePrefix, s.Object), Keys: s.Keys, Size: s.Size, SHA256: s.SHA256,
			ReplicationOffset: s.ReplOffset})
	}
	return st, nil
}

// restoreState tells the plan what a running restore holds: nothing touches the nodes until
// every shard's node answers with the manifest's key count (one that differs fails the restore),
// so that no slot table is written over a node before its keys are known to be whole.
func (c *Controller) restoreState(rc *redisv1beta1.RedisCluster, o *plan.Observation) *plan.RestoreState {
	st := rc.Status.Restore
	if st == nil || st.Phase == redisv1beta1.RestoreSucceeded {
		return nil
	}
	r := &plan.RestoreState{}
	if len(st.Shards) == 0 && st.Phase != redisv1beta1.RestoreFailed {
		r.Hold = st.Message
		return r
	}
	for _, s := range st.Shards {
		var ranges []topology.SlotRange
		for _, text := range s.Slots {
			if sr, err := topology.ParseSlotRange(text); err == nil {
				ranges = append(ranges, sr)
			}
		}
		r.Slots = append(r.Slots, ranges)
	}
	if st.Phase == redisv1beta1.RestoreFailed {
		r.Hold = "restore failed: " + st.Message
		return r
	}
	for _, s := range st.Shards {
		index := int(s.Index)
		pod := o.Pods[index]
		if pod == nil {
			r.Hold = fmt.Sprintf("waiting for node %d to load shard %d (%d keys)", index, index, s.Keys)
			continue
		}
		if why, refused := initFailure(pod); refused {
			return c.failRestore(rc, r, fmt.Sprintf("shard %d: %s", index, why))
		} else if why != "" {
			r.Hold = fmt.Sprintf("shard %d: retrying: %s", index, why)
			continue
		}
		node := nodeStateOf(o, pod)
		if node == nil || node.Err != nil {
			r.Hold = fmt.Sprintf("waiting for node %d to load shard %d (%d keys)", index, index, s.Keys)
			continue
		}
		if len(node.Table) > 1 {
			continue // checked before it met the others: it may serve writes by now
		}
		if keys := node.Keys(); keys < 0 {
			r.Hold = fmt.Sprintf("waiting for node %d to say how many keys it loaded", index)
		} else if keys != s.Keys {
			return c.failRestore(rc, r, fmt.Sprintf("shard %d: node %d holds %d keys, the backup's manifest says %d", index, index, keys, s.Keys))
		}
	}
	return r
}

func (c *Controller) failRestore(rc *redisv1beta1.RedisCluster, r *plan.RestoreState, why string) *plan.RestoreState {
	rc.Status.Restore.Phase, rc.Status.Restore.Message = redisv1beta1.RestoreFailed, why
	c.recordEvent(rc, corev1.EventTypeWarning, ReasonRestoreFailed, "%s", why)
	r.Hold = "restore failed: " + why
	return r
}

// initFailure says why the pod's restore init container failed, and whether it refused the
// shard for good (exit code objects.RestoreRefusedExit) rather than failed in a way the
// kubelet's retries may get past.
func initFailure(pod *corev1.Pod) (why string, refused bool) {
	for _, st := range pod.Status.InitContainerStatuses {
		if st.Name != objects.RestoreContainer {
			continue
		}
		t := st.State.Terminated
		if t == nil || t.ExitCode == 0 {
			t = st.LastTerminationState.Terminated
		}
		if t == nil || t.ExitCode == 0 {
			return "", false
		}
		return fmt.Sprintf("pod %s could not put it in place: %s (kubectl logs %s -c %s)", pod.Name, firstOf(t.Message, t.Reason), pod.Name, st.Name),
			t.ExitCode == objects.RestoreRefusedExit
	}
	return "", false
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// nodeStateOf is what the node of pod answered, nil when it was not asked.
func nodeStateOf(o *plan.Observation, pod *corev1.Pod) *topology.NodeState {
	if o.View == nil || pod.Status.PodIP == "" {
		return nil
	}
	index, ok := objects.NodeIndex(pod)
	if !ok {
		return nil
	}
	return o.View.Nodes[fmt.Sprintf("%s:%d", pod.Status.PodIP, o.Cluster.Spec.NodePort(index))]
}

// restoreEnded marks a running restore Succeeded once the cluster it made is Ready.
func (c *Controller) restoreEnded(rc *redisv1beta1.RedisCluster, status *redisv1beta1.RedisClusterStatus) {
	st := status.Restore
	if st == nil || st.Phase != redisv1beta1.RestoreRunning || !meta.IsStatusConditionTrue(status.Conditions, redisv1beta1.ConditionReady) {
		return
	}
	st.Phase, st.Message = redisv1beta1.RestoreSucceeded, ""
	var keys int64
	for _, s := range st.Shards {
		keys += s.Keys
	}
	c.recordEvent(rc, corev1.EventTypeNormal, ReasonRestored, "restored %d keys of %d shards from %s", keys, len(st.Shards), st.Location)
}

// restorePod adds the restore's init container to the pod of a node that is to hold a shard.
func (c *Controller) restorePod(rc *redisv1beta1.RedisCluster, pod *corev1.Pod, index int) error {
	st := rc.Status.Restore
	if rc.Spec.Restore == nil || st == nil || st.Phase != redisv1beta1.RestoreRunning || index >= len(st.Shards) {
		return nil
	}
	src, err := c.restoreSourceOf(rc)
	if err != nil {
		return err
	}
	objects.WithRestore(pod, objects.RestoreSource{Image: c.backupImage, Destination: src.dest, StorePrefix: src.storePrefix,
		Name: src.name, Shard: index})
	return nil
}
