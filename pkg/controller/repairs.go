package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
)

// startRepairs closes open slots as the cluster's task: each may move a whole slot's keys, which
// must not hold a worker (every other cluster waits for one) nor a sync past its deadline.
func (c *Controller) startRepairs(ctx context.Context, rc *redisv1beta1.RedisCluster, prior *redisv1beta1.MigrationStatus,
	redis redisops.Cluster, view *topology.ClusterView, slots []plan.RepairSlot) {
	c.startTask(ctx, rc, prior, int32(len(slots)), map[string]bool{}, func(ctx context.Context, t *migrationTask) error {
		var repaired []redisops.Repair
		defer func() { c.reportRepairs(rc, t, repaired) }()
		for _, a := range slots {
			r, err := redis.RepairOpenSlot(ctx, view, a.Slot, a.Owner)
			if err != nil {
				return fmt.Errorf("%s: %w", a.Why(), err)
			}
			repaired = append(repaired, r)
			t.update(func(m *redisv1beta1.MigrationStatus) {
				m.SlotsDone++
				m.Step = fmt.Sprintf("repaired open slot %d", a.Slot)
			})
			c.queue.AddAfter(keyOf(rc), progressDelay)
		}
		t.update(func(m *redisv1beta1.MigrationStatus) { m.Step = fmt.Sprintf("repaired %d open slots", len(repaired)) })
		return nil
	})
}

// reportRepairs records one Event per kind of repair made to open slots, and the same note and
// the slots whose keys were lost in the task's record.
func (c *Controller) reportRepairs(rc *redisv1beta1.RedisCluster, t *migrationTask, repairs []redisops.Repair) {
	var lost []int
	for _, r := range repairs {
		if r.LostWith != "" {
			lost = append(lost, r.Slot)
		}
	}
	notes := summarizeRepairs(repairs)
	for _, what := range notes {
		c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonRepairedSlot, "Repaired open slots: %s", what)
	}
	t.update(func(m *redisv1beta1.MigrationStatus) {
		m.Interruptions = plan.AppendNotes(m.Interruptions, notes)
		m.LostSlots = plan.WithSlots(m.LostSlots, lost)
	})
}

// summarizeRepairs groups repairs that ended alike, naming their slots as ranges.
func summarizeRepairs(repairs []redisops.Repair) []string {
	type outcome struct {
		finished    bool
		owner, lost string
		oom         bool
	}
	var order []outcome
	slots := map[outcome][]int{}
	keys := map[outcome]int{}
	for _, r := range repairs {
		o := outcome{r.Finished, r.Owner, r.LostWith, r.OutOfMemory}
		if _, seen := slots[o]; !seen {
			order = append(order, o)
		}
		slots[o] = append(slots[o], r.Slot)
		keys[o] += r.Keys
	}
	var out []string
	for _, o := range order {
		ranges := topology.SlotList(slots[o])
		if o.finished {
			out = append(out, fmt.Sprintf("finished moving slots %s to %s (%d keys)", ranges, o.owner, keys[o]))
			continue
		}
		what := fmt.Sprintf("rolled slots %s back to their owner %s (%d keys returned)", ranges, o.owner, keys[o])
		if o.lost != "" {
			what += fmt.Sprintf("; keys they had sent to node %s are lost with it", plan.ShortID(o.lost))
		}
		if o.oom {
			what += ": the target was out of memory"
		}
		out = append(out, what)
	}
	return out
}
