package backups

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// ReasonInvalidSchedule marks a cluster whose backup schedule does not parse.
const ReasonInvalidSchedule = "InvalidBackupSchedule"

// busyRecheck is how soon a schedule looks again while one of its backups still runs.
const busyRecheck = 10 * time.Second

// syncSchedule takes the backup a cluster's schedule is due for (the latest due time only: times
// missed while the operator was down are not made up), and prunes the scheduled backups beyond
// spec.backup.keep. It returns when to look next.
func (c *Controller) syncSchedule(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	rc, err := c.clusters.RedisClusters(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if rc.DeletionTimestamp != nil || rc.Spec.Backup == nil || rc.Spec.Backup.Schedule == "" {
		return 0, nil
	}
	sched, err := cron.ParseStandard(rc.Spec.Backup.Schedule)
	if err != nil {
		c.recorder.Eventf(rc, corev1.EventTypeWarning, ReasonInvalidSchedule, "spec.backup.schedule %q: %v", rc.Spec.Backup.Schedule, err)
		return 0, nil
	}
	all, err := c.backups.RedisClusterBackups(rc.Namespace).List(labels.SelectorFromSet(labels.Set{LabelScheduledBy: rc.Name}))
	if err != nil {
		return 0, err
	}
	// Schedules are in UTC: a time decoded from the API is in the operator's local zone.
	now := c.cfg.Now().UTC()
	last, busy := rc.CreationTimestamp.UTC(), false
	for _, b := range all {
		if t, err := time.Parse(time.RFC3339, b.Annotations[AnnotationScheduledAt]); err == nil && t.After(last) {
			last = t.UTC()
		}
		busy = busy || b.Status.Phase == "" || b.Status.Phase == redisv1beta1.BackupPending || b.Status.Phase == redisv1beta1.BackupRunning
	}
	if due, ok := latestDue(sched, last, now); ok {
		if busy {
			return busyRecheck, nil
		}
		if err := c.takeScheduled(ctx, rc, due); err != nil {
			return 0, err
		}
	}
	if err := c.prune(ctx, rc, all); err != nil {
		return 0, err
	}
	return max(sched.Next(now).Sub(now), time.Second), nil
}

// latestDue is the latest time of sched after last and not after now, if any. It looks back
// from now in growing windows, so that its steps stay few whatever the schedule's period and
// however long ago last was.
func latestDue(sched cron.Schedule, last, now time.Time) (time.Time, bool) {
	if sched.Next(last).After(now) {
		return time.Time{}, false
	}
	from := last
	for window := time.Minute; window < now.Sub(last); window *= 4 {
		if !sched.Next(now.Add(-window)).After(now) {
			from = now.Add(-window)
			break
		}
	}
	due := sched.Next(from)
	for i := 0; i < 100000; i++ { // bounded: at most about 4 windows' worth of steps
		next := sched.Next(due)
		if next.After(now) || next.IsZero() {
			break
		}
		due = next
	}
	return due, true
}

func (c *Controller) takeScheduled(ctx context.Context, rc *redisv1beta1.RedisCluster, due time.Time) error {
	b := &redisv1beta1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%s", rc.Name, due.UTC().Format("20060102-150405")), Namespace: rc.Namespace,
			Labels:      map[string]string{LabelScheduledBy: rc.Name},
			Annotations: map[string]string{AnnotationScheduledAt: due.UTC().Format(time.RFC3339)},
		},
		Spec: redisv1beta1.RedisClusterBackupSpec{ClusterName: rc.Name},
	}
	_, err := c.redis.RedisV1beta1().RedisClusterBackups(rc.Namespace).Create(ctx, b, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// prune deletes, objects first, the succeeded scheduled backups beyond keep, and the failed ones
// older than the newest that succeeded.
func (c *Controller) prune(ctx context.Context, rc *redisv1beta1.RedisCluster, all []*redisv1beta1.RedisClusterBackup) error {
	var ended []*redisv1beta1.RedisClusterBackup
	for _, b := range all {
		if b.DeletionTimestamp == nil && (b.Status.Phase == redisv1beta1.BackupSucceeded || b.Status.Phase == redisv1beta1.BackupFailed) {
			ended = append(ended, b)
		}
	}
	sort.Slice(ended, func(i, j int) bool {
		return ended[i].Annotations[AnnotationScheduledAt] > ended[j].Annotations[AnnotationScheduledAt]
	})
	kept, succeeded := int(rc.Spec.Backup.Keep), 0
	if kept < 1 {
		kept = 1
	}
	for _, b := range ended {
		if b.Status.Phase == redisv1beta1.BackupSucceeded {
			succeeded++
			if succeeded <= kept {
				continue
			}
		} else if succeeded == 0 {
			continue // no newer backup succeeded: the failure is the latest news
		}
		if err := c.remove(ctx, rc, b); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) remove(ctx context.Context, rc *redisv1beta1.RedisCluster, b *redisv1beta1.RedisClusterBackup) error {
	if dest := destinationOf(b, rc); dest != nil && b.Status.Location != "" {
		store, err := c.Open(ctx, b.Namespace, dest, StorePrefix(dest, b.Namespace))
		if err != nil {
			return err
		}
		if err := store.DeleteBackup(ctx, b.Name); err != nil {
			return fmt.Errorf("pruning backup %s: %w", b.Name, err)
		}
	}
	err := c.redis.RedisV1beta1().RedisClusterBackups(b.Namespace).Delete(ctx, b.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.recorder.Eventf(rc, corev1.EventTypeNormal, ReasonBackupPruned, "deleted backup %s and its objects: spec.backup.keep is %d", b.Name, rc.Spec.Backup.Keep)
	return nil
}
