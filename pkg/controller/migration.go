package controller

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
)

const (
	// migrationPairs bounds how many source -> target pairs move slots at once.
	migrationPairs = 4
	// progressDelay is how soon after a migration's progress the cluster is synced, so that
	// status follows a migration at most this often.
	progressDelay = 500 * time.Millisecond
)

// migrations holds the migration task of each cluster. A migration runs off the workers: the
// sync that plans it starts it and returns, later syncs read its progress into status (the
// task never writes status itself) and keep healing the cluster meanwhile, and the sync after
// it finished reports the end and forgets it.
type migrations struct {
	mu        sync.Mutex
	byCluster map[cache.ObjectName]*migrationTask
	running   sync.WaitGroup
}

// migrationTask is one running or finished migration.
type migrationTask struct {
	uid    types.UID
	cancel context.CancelFunc
	// nodes are the ids of the masters the migration moves slots between.
	nodes map[string]bool

	mu      sync.Mutex
	state   redisv1beta1.MigrationStatus
	running bool
}

// migrationReport is a snapshot of a task for one sync.
type migrationReport struct {
	task *migrationTask
	plan.MigrationProgress
}

func (t *migrationTask) update(change func(m *redisv1beta1.MigrationStatus)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	change(&t.state)
}

// report returns the task of the cluster key with uid, or nil. A task of an earlier cluster of
// the same name is stopped and dropped.
func (m *migrations) report(key cache.ObjectName, uid types.UID) *migrationReport {
	m.mu.Lock()
	t := m.byCluster[key]
	if t != nil && t.uid != uid {
		t.cancel()
		delete(m.byCluster, key)
		t = nil
	}
	m.mu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return &migrationReport{task: t, MigrationProgress: plan.MigrationProgress{Running: t.running, Record: t.state.DeepCopy(), Nodes: t.nodes}}
}

// reported drops a finished task once its end is in the cluster's status.
func (m *migrations) reported(key cache.ObjectName, r *migrationReport) {
	if r == nil || r.Running {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byCluster[key] == r.task {
		delete(m.byCluster, key)
	}
}

// stop cancels the cluster's task: it ends at the next slot batch boundary.
func (m *migrations) stop(key cache.ObjectName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.byCluster[key]; t != nil {
		t.cancel()
		delete(m.byCluster, key)
	}
}

// wait waits until every task has stopped, at most timeout; it reports whether they all did.
func (m *migrations) wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		m.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// startMigration starts moving slots as the cluster's task, going on under the record prior.
func (c *Controller) startMigration(ctx context.Context, rc *redisv1beta1.RedisCluster, prior *redisv1beta1.MigrationStatus,
	redis redisops.Cluster, view *topology.ClusterView, moves []topology.SlotMove) {
	nodes := map[string]bool{}
	for _, m := range moves {
		nodes[m.Source], nodes[m.Target] = true, true
	}
	c.startTask(ctx, rc, prior, int32(len(moves)), nodes, func(ctx context.Context, t *migrationTask) error {
		err := c.migrate(ctx, rc, redis, view, moves, t)
		if err == nil {
			t.update(func(m *redisv1beta1.MigrationStatus) { m.Step = fmt.Sprintf("moved %d slots", m.SlotsPlanned) })
		}
		return err
	})
}

// startTask runs work as the cluster's task, off the workers, over planned slots between the
// masters nodes. ctx is the workers' context: when leadership is lost the task stops at a slot
// batch boundary. A failure is kept in the task's record and is an Event; either way the cluster
// is synced when the task ends. prior is the record of the migration in progress, as the sync's
// decision has it: it holds what a task that just ended kept, which the cluster's status may not
// have yet.
func (c *Controller) startTask(ctx context.Context, rc *redisv1beta1.RedisCluster, prior *redisv1beta1.MigrationStatus,
	planned int32, nodes map[string]bool, work func(ctx context.Context, t *migrationTask) error) {
	key := keyOf(rc)
	taskCtx, cancel := context.WithCancel(ctx)
	t := &migrationTask{uid: rc.UID, cancel: cancel, running: true, nodes: nodes}
	t.state = redisv1beta1.MigrationStatus{SlotsPlanned: planned, StartTime: &metav1.Time{Time: time.Now()}}
	if old := prior; old != nil {
		// A migration interrupted by a restart or a repair goes on under the same record.
		t.state.Interruptions, t.state.LostSlots = old.Interruptions, old.LostSlots
		if old.StartTime != nil {
			t.state.StartTime = old.StartTime.DeepCopy()
		}
	}
	c.migrations.mu.Lock()
	if c.migrations.byCluster == nil {
		c.migrations.byCluster = map[cache.ObjectName]*migrationTask{}
	}
	if old := c.migrations.byCluster[key]; old != nil {
		old.cancel()
	}
	c.migrations.byCluster[key] = t
	c.migrations.running.Add(1)
	c.migrations.mu.Unlock()

	go func() {
		defer c.migrations.running.Done()
		defer cancel()
		if err := work(taskCtx, t); err != nil {
			t.update(func(m *redisv1beta1.MigrationStatus) {
				m.Step = "stopped: " + err.Error()
				m.Interruptions = plan.AppendNotes(m.Interruptions, []string{"moving slots failed: " + err.Error()})
			})
			c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonRedisError, "Moving slots failed: %v", err)
		}
		t.mu.Lock()
		t.running = false
		t.mu.Unlock()
		c.queue.Add(key)
	}()
}

// migrate carries out slot moves, independent source -> target pairs at once, and keeps the
// task's progress.
func (c *Controller) migrate(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster,
	view *topology.ClusterView, moves []topology.SlotMove, t *migrationTask) error {
	byID := view.ByID()
	var masters []string
	for _, st := range view.Reachable() {
		if self, _ := st.Self(); self.Master() && len(self.Slots) > 0 {
			masters = append(masters, st.Addr)
		}
	}
	pairs := topology.MoveRanges(moves)
	keys := make([][2]string, 0, len(pairs))
	for pair := range pairs {
		keys = append(keys, pair)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	t.update(func(m *redisv1beta1.MigrationStatus) {
		m.Step = fmt.Sprintf("moving %d slots between %d pairs of masters", len(moves), len(keys))
	})

	sem := make(chan struct{}, migrationPairs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, pair := range keys {
		source, target := byID[pair[0]], byID[pair[1]]
		if source == nil || target == nil {
			wg.Wait()
			return fmt.Errorf("master %s or %s is not reachable", plan.ShortID(pair[0]), plan.ShortID(pair[1]))
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
			progress := func(n int) {
				t.update(func(m *redisv1beta1.MigrationStatus) {
					m.SlotsDone += int32(n - previous)
					m.Step = fmt.Sprintf("moving slots from %s to %s", source.Addr, target.Addr)
				})
				previous = n
				c.queue.AddAfter(keyOf(rc), progressDelay)
			}
			moved, err := redis.MoveSlots(ctx, redisops.Endpoint{Addr: source.Addr, ID: pair[0]},
				redisops.Endpoint{Addr: target.Addr, ID: pair[1], Replica: redisops.LinkedReplica(view, pair[1])}, slots, masters, progress)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonMigratedSlots, "Moved %d slots from %s to %s",
				len(moved), source.Addr, target.Addr)
		}()
	}
	wg.Wait()
	return firstErr
}
