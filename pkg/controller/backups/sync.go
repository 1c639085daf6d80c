package backups

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
	"redis-operator/pkg/redisops/topology"
)

// Event reasons of backups.
const (
	ReasonBackupStarted   = "BackupStarted"
	ReasonBackupSucceeded = "BackupSucceeded"
	ReasonBackupFailed    = "BackupFailed"
	ReasonBackupPruned    = "BackupPruned"
)

// pendingRecheck is how often a backup waiting for its cluster looks again (cluster updates
// bring it sooner).
const pendingRecheck = 5 * time.Second

// syncBackup moves one backup on: Pending until its cluster is steady, then Running with one Job
// per shard, then Succeeded once every shard's snapshot is in the store and the manifest is
// written, or Failed.
func (c *Controller) syncBackup(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	b, err := c.backups.RedisClusterBackups(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if b.DeletionTimestamp != nil || b.Status.Phase == redisv1beta1.BackupSucceeded || b.Status.Phase == redisv1beta1.BackupFailed {
		return 0, nil
	}
	rc, err := c.clusters.RedisClusters(b.Namespace).Get(b.Spec.ClusterName)
	if apierrors.IsNotFound(err) {
		return 0, c.fail(ctx, b, nil, fmt.Sprintf("RedisCluster %s not found", b.Spec.ClusterName))
	}
	if err != nil {
		return 0, err
	}
	dest := destinationOf(b, rc)
	if dest == nil {
		return 0, c.fail(ctx, b, rc, "no destination: set spec.destination, or the cluster's spec.backup.destination")
	}
	if b.Status.Phase != redisv1beta1.BackupRunning {
		return c.start(ctx, b, rc, dest)
	}
	return c.follow(ctx, b, rc, dest)
}

func destinationOf(b *redisv1beta1.RedisClusterBackup, rc *redisv1beta1.RedisCluster) *redisv1beta1.BackupDestination {
	if b.Status.Destination != nil {
		return b.Status.Destination
	}
	if b.Spec.Destination != nil {
		return b.Spec.Destination
	}
	if rc.Spec.Backup != nil {
		return &rc.Spec.Backup.Destination
	}
	return nil
}

// notSteady says why the cluster's shards cannot be taken now: a slot moving between two
// snapshots could be in both or in neither.
func notSteady(rc *redisv1beta1.RedisCluster) string {
	switch {
	case rc.Status.Restore != nil && rc.Status.Restore.Phase != redisv1beta1.RestoreSucceeded:
		return "waiting for the cluster's restore to end"
	case rc.Status.Migration != nil:
		return "waiting for the slot migration to end: " + rc.Status.Migration.Step
	case !meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionReady):
		return "waiting for the cluster to be Ready"
	}
	return ""
}

// shardsOf lists the masters' shards from the cluster's status, ranked by first slot as the
// shard labels are, each with the nodes to stream it from: its ready replicas, then itself.
func shardsOf(rc *redisv1beta1.RedisCluster) ([]redisv1beta1.BackupShard, map[int32][]string, error) {
	type master struct {
		node  redisv1beta1.NodeStatus
		first int
	}
	var masters []master
	for _, n := range rc.Status.Nodes {
		if n.Role != redisv1beta1.RoleMaster || len(n.Slots) == 0 {
			continue
		}
		first := topology.SlotCount
		for _, text := range n.Slots {
			r, err := topology.ParseSlotRange(text)
			if err != nil {
				return nil, nil, fmt.Errorf("node %s: %w", n.Pod, err)
			}
			first = min(first, r.Start)
		}
		masters = append(masters, master{n, first})
	}
	sort.Slice(masters, func(i, j int) bool { return masters[i].first < masters[j].first })
	var shards []redisv1beta1.BackupShard
	sources := map[int32][]string{}
	for i, m := range masters {
		index := int32(i)
		shards = append(shards, redisv1beta1.BackupShard{Index: index, Slots: m.node.Slots, NodeID: m.node.NodeID})
		for _, n := range rc.Status.Nodes {
			if n.Role == redisv1beta1.RoleReplica && n.MasterNodeID == m.node.NodeID && n.Ready && n.IP != "" {
				sources[index] = append(sources[index], fmt.Sprintf("%s:%d", n.IP, n.Port))
			}
		}
		sources[index] = append(sources[index], fmt.Sprintf("%s:%d", m.node.IP, m.node.Port))
	}
	return shards, sources, nil
}

// start records the shards and the sources of a steady cluster, then creates the Jobs.
func (c *Controller) start(ctx context.Context, b *redisv1beta1.RedisClusterBackup, rc *redisv1beta1.RedisCluster,
	dest *redisv1beta1.BackupDestination) (time.Duration, error) {
	if why := notSteady(rc); why != "" {
		if b.Status.Phase != redisv1beta1.BackupPending || b.Status.Message != why {
			s := b.Status.DeepCopy()
			s.Phase, s.Message = redisv1beta1.BackupPending, why
			return pendingRecheck, c.writeStatus(ctx, b, s)
		}
		return pendingRecheck, nil
	}
	shards, sources, err := shardsOf(rc)
	if err != nil {
		return 0, c.fail(ctx, b, rc, err.Error())
	}
	if len(shards) == 0 {
		return pendingRecheck, nil
	}
	prefix := StorePrefix(dest, b.Namespace)
	s := b.Status.DeepCopy()
	now := metav1.NewTime(c.cfg.Now())
	s.Phase, s.Message, s.StartTime, s.Location = redisv1beta1.BackupRunning, "", &now, Location(dest, prefix, b.Name)
	s.ShardCount, s.Shards, s.Destination = int32(len(shards)), shards, dest.DeepCopy()
	for i := range s.Shards {
		s.Shards[i].Object = path.Join(prefix, backup.ShardObjectName(b.Name, int(s.Shards[i].Index)))
		// The Job reads its sources from its arguments; the status keeps them for a new leader.
		s.Shards[i].Source = strings.Join(sources[s.Shards[i].Index], ",")
	}
	// The shards are on record before any Job runs: a restarted operator creates the same ones.
	if err := c.writeStatus(ctx, b, s); err != nil {
		return 0, err
	}
	c.recorder.Eventf(b, corev1.EventTypeNormal, ReasonBackupStarted, "streaming %d shards of %s to %s", len(shards), rc.Name, s.Location)
	return 0, nil
}

// follow creates any missing Job and, once all ended, writes the manifest or fails the backup.
func (c *Controller) follow(ctx context.Context, b *redisv1beta1.RedisClusterBackup, rc *redisv1beta1.RedisCluster,
	dest *redisv1beta1.BackupDestination) (time.Duration, error) {
	jobs, err := c.jobs.Jobs(b.Namespace).List(labels.SelectorFromSet(labels.Set{LabelBackupUID: string(b.UID)}))
	if err != nil {
		return 0, err
	}
	if moved := slotsMovedSince(rc, b.Status.StartTime); moved != "" {
		return 0, c.fail(ctx, b, rc, moved)
	}
	byName := map[string]*batchv1.Job{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	done := 0
	for _, shard := range b.Status.Shards {
		j := byName[jobName(b, shard.Index)]
		if j == nil {
			want := shardJob(b, rc, dest, shard, strings.Split(shard.Source, ","), c.cfg.Image)
			if _, err := c.kube.BatchV1().Jobs(b.Namespace).Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return 0, fmt.Errorf("creating job for shard %d: %w", shard.Index, err)
			}
			continue
		}
		if failed := jobCondition(j, batchv1.JobFailed); failed != nil {
			return 0, c.fail(ctx, b, rc, fmt.Sprintf("shard %d (slots %s): job %s failed: %s %s; kubectl logs job/%s says why",
				shard.Index, strings.Join(shard.Slots, ","), j.Name, failed.Reason, failed.Message, j.Name))
		}
		if jobCondition(j, batchv1.JobComplete) != nil {
			done++
		}
	}
	if done < len(b.Status.Shards) {
		return 0, nil
	}
	return 0, c.finish(ctx, b, rc, dest)
}

// slotsMovedSince says whether a migration ran since the backup started: the cluster's hold
// on migrations begins once it sees the backup Running, and one may have started just before.
func slotsMovedSince(rc *redisv1beta1.RedisCluster, start *metav1.Time) string {
	if m := rc.Status.Migration; m != nil {
		return "slots moved while the shards were streamed: " + m.Step
	}
	if m := rc.Status.LastMigration; m != nil && start != nil && m.CompletionTime != nil && !m.CompletionTime.Before(start) {
		return "slots moved while the shards were streamed"
	}
	return ""
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// fail ends the backup with why; its objects stay for a look, without a manifest.
func (c *Controller) fail(ctx context.Context, b *redisv1beta1.RedisClusterBackup, rc *redisv1beta1.RedisCluster, why string) error {
	s := b.Status.DeepCopy()
	now := metav1.NewTime(c.cfg.Now())
	s.Phase, s.Message, s.CompletionTime = redisv1beta1.BackupFailed, why, &now
	if err := c.writeStatus(ctx, b, s); err != nil {
		return err
	}
	// Shards still streaming are of no use now.
	background := metav1.DeletePropagationBackground
	if err := c.kube.BatchV1().Jobs(b.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background},
		metav1.ListOptions{LabelSelector: LabelBackupUID + "=" + string(b.UID)}); err != nil {
		c.log.Warn().Err(err).Str("backup", b.Name).Msg("deleting the jobs of a failed backup")
	}
	c.recorder.Eventf(b, corev1.EventTypeWarning, ReasonBackupFailed, "%s", why)
	if rc != nil {
		c.recorder.Eventf(rc, corev1.EventTypeWarning, ReasonBackupFailed, "backup %s: %s", b.Name, why)
	}
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, b *redisv1beta1.RedisClusterBackup, s *redisv1beta1.RedisClusterBackupStatus) error {
	out := b.DeepCopy()
	out.Status = *s
	_, err := c.redis.RedisV1beta1().RedisClusterBackups(b.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err == nil && (s.Phase != b.Status.Phase || s.Message != b.Status.Message) {
		c.log.Info().Str("namespace", b.Namespace).Str("backup", b.Name).Str("phase", s.Phase).Msg(s.Message)
	}
	return err
}
