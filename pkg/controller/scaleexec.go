package controller

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
)

// Event reasons of scaling.
const (
	ReasonMigratedSlots = "MigratedSlots"
	ReasonRemovedNode   = "RemovedNode"
)

const (
	// migrationPairs bounds how many source -> target pairs move slots at once.
	migrationPairs = 4
	// progressEvery is how many slots pass between two progress writes to the status.
	progressEvery = 512
)

// migrate carries out slot moves, independent source -> target pairs at once, and records the
// progress in status.migration so that a watcher (and a restarted operator) sees it. It returns
// the migration's state at the end, also on error.
func (c *Controller) migrate(ctx context.Context, rc *redisv1beta1.RedisCluster, admin *redisops.Admin,
	view *redisops.ClusterView, moves []redisops.SlotMove) (*redisv1beta1.MigrationStatus, error) {
	byID := view.ByID()
	var masters []string
	for _, st := range view.Reachable() {
		if self, _ := st.Self(); self.Master() && len(self.Slots) > 0 {
			masters = append(masters, st.Addr)
		}
	}
	pairs := redisops.MoveRanges(moves)
	keys := make([][2]string, 0, len(pairs))
	for pair := range pairs {
		keys = append(keys, pair)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })

	started := metav1.NewTime(time.Now())
	var interruptions []string
	if old := rc.Status.Migration; old != nil {
		interruptions = old.Interruptions
		if old.StartTime != nil {
			started = *old.StartTime
		}
	}
	planned := int32(len(moves))
	var done atomic.Int32
	var lastReport atomic.Int32
	state := func(step string) *redisv1beta1.MigrationStatus {
		return &redisv1beta1.MigrationStatus{SlotsPlanned: planned, SlotsDone: done.Load(), Step: step,
			StartTime: &started, Interruptions: interruptions}
	}
	report := func(step string) { c.writeMigration(ctx, rc, state(step)) }
	report(fmt.Sprintf("moving %d slots between %d pairs of masters", planned, len(keys)))

	sem := make(chan struct{}, migrationPairs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, pair := range keys {
		source, target := byID[pair[0]], byID[pair[1]]
		if source == nil || target == nil {
			wg.Wait()
			return state("waiting for masters"), fmt.Errorf("master %s or %s is not reachable", short(pair[0]), short(pair[1]))
		}
		var slots []int
		for _, r := range pairs[pair] {
			for s := r.Start; s <= r.End; s++ {
				slots = append(slots, s)
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			previous := 0
			migrator := &redisops.ClassicMigrator{Admin: admin, Progress: func(n int) {
				total := done.Add(int32(n - previous))
				previous = n
				if total-lastReport.Load() >= progressEvery {
					lastReport.Store(total)
					report(fmt.Sprintf("moving slots from %s to %s", source.Addr, target.Addr))
				}
			}}
			moved, err := migrator.MoveSlots(ctx, redisops.Endpoint{Addr: source.Addr, ID: pair[0]},
				redisops.Endpoint{Addr: target.Addr, ID: pair[1]}, slots, masters)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			c.recordEvent(rc, corev1.EventTypeNormal, ReasonMigratedSlots, "Moved %d slots from %s to %s",
				len(moved), source.Addr, target.Addr)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return state("stopped: " + firstErr.Error()), firstErr
	}
	return state(fmt.Sprintf("moved %d slots", planned)), nil
}

// writeMigration records migration progress on the latest copy of the cluster.
func (c *Controller) writeMigration(ctx context.Context, rc *redisv1beta1.RedisCluster, m *redisv1beta1.MigrationStatus) {
	clusters := c.redisClient.RedisV1beta1().RedisClusters(rc.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest, err := clusters.Get(ctx, rc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		latest.Status.Migration = m
		setCondition(&latest.Status, latest.Generation, redisv1beta1.ConditionScaling, metav1.ConditionTrue, ReasonMigrating,
			fmt.Sprintf("%d of %d slots moved: %s", m.SlotsDone, m.SlotsPlanned, m.Step))
		if _, err = clusters.UpdateStatus(ctx, latest, metav1.UpdateOptions{}); err == nil {
			c.metrics.observeStatus(latest, &latest.Status)
		}
		return err
	})
	if err != nil {
		c.log.Warn().Err(err).Str("namespace", rc.Namespace).Str("cluster", rc.Name).Msg("recording migration progress")
	}
}

// removeNode forgets a node above the wanted count on every other node and deletes its pod.
func (c *Controller) removeNode(ctx context.Context, rc *redisv1beta1.RedisCluster, admin *redisops.Admin,
	view *redisops.ClusterView, a action) error {
	if err := forgetEverywhere(ctx, admin, view, a.NodeID); err != nil {
		return err
	}
	err := c.kubeClient.CoreV1().Pods(rc.Namespace).Delete(ctx, a.Target.Pod, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting pod %s: %w", a.Target.Pod, err)
	}
	admin.Drop(a.Addr)
	c.recordEvent(rc, corev1.EventTypeNormal, ReasonRemovedNode, "Removed node %d (%s): forgot %s and deleted pod %s",
		a.Target.Index, a.Addr, short(a.NodeID), a.Target.Pod)
	return nil
}
