package controller

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// sync reconciles one RedisCluster: it reads the cluster's objects from the listers and every
// node's own view of Redis (observe), decides the whole plan from them (decide, pure), acts on
// it, and reports the status. It never modifies objects from the cache.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	rc, err := c.clusterFor(key)
	if err != nil {
		return err
	}
	if rc == nil || rc.DeletionTimestamp != nil {
		c.migrations.stop(key)
		if rc == nil {
			c.lastSeen.Delete(key)
			c.redis.close(key)
			c.status.forget(key)
			c.metrics.forgetCluster(key.Namespace, key.Name)
		}
		return nil
	}
	password, err := c.passwordOf(rc)
	if err != nil {
		return err
	}
	redis := c.redis.get(key, Passwords(c.configSecret(rc), password))
	o, err := c.observe(ctx, rc, redis, password)
	if err != nil {
		return err
	}
	c.lastSeen.Store(key, o)
	d := Decide(o)
	done, actErr := c.act(ctx, rc, redis, o, &d)

	status := d.Status
	if done.configRefused != "" {
		SetCondition(&status, rc.Generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonConfigRefused, done.configRefused)
	}
	if len(done.lostSlots) > 0 {
		SetDegraded(&status, rc.Generation, ReasonSlotsLost, nil, done.lostSlots, o.Now)
	}
	if (len(done.notes) > 0 || len(done.lostKeys) > 0) && status.Migration != nil {
		record := func(s *redisv1beta1.MigrationStatus) {
			s.Interruptions = AppendNotes(s.Interruptions, done.notes)
			s.LostSlots = WithSlots(s.LostSlots, done.lostKeys)
		}
		status.Migration = status.Migration.DeepCopy()
		record(status.Migration)
		if m := o.Migration; m != nil && m.Running {
			m.task.update(record)
		}
	}
	heldBack, err := c.status.write(ctx, rc, status, time.Now())
	if err != nil {
		return err
	}
	if heldBack == 0 {
		c.migrations.reported(key, o.Migration)
	}
	if actErr != nil {
		return actErr
	}
	switch {
	case heldBack > 0:
		c.queue.AddAfter(key, heldBack)
	case d.Requeue > 0:
		c.queue.AddAfter(key, d.Requeue)
	}
	return nil
}
