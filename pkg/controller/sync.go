package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
)

// sync reconciles one RedisCluster: it reads the cluster's objects from the listers and every
// node's own view of Redis (observe), decides the whole plan from them (plan.Decide, pure), acts on
// it, and reports the status. It never modifies objects from the cache.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	rc, err := c.clusterFor(key)
	if err != nil {
		return err
	}
	if rc == nil || rc.DeletionTimestamp != nil {
		c.migrations.stop(key)
		if rc == nil {
			c.spreadTries.Delete(key)
			c.redis.close(key)
			c.status.forget(key)
			c.metrics.forgetCluster(key.Namespace, key.Name)
		}
		return nil
	}
	rc = c.status.latest(rc)
	password, err := c.passwordOf(rc)
	if err != nil {
		return err
	}
	if wrote, renewIn, err := c.issueCertificate(ctx, rc); err != nil {
		c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonTLSSecretRefused, "%v", err)
		return err
	} else if wrote {
		return nil // the Secret's event brings the next sync
	} else if renewIn > 0 {
		c.queue.AddAfter(key, renewIn)
	}
	cert := c.nodeCertificateOf(rc)
	passwords := objects.Passwords(c.configSecret(rc), password)
	stored := rc // the status is written against the cluster as stored
	if rc, err = c.restoring(ctx, rc); err != nil {
		return err
	}
	var creds *redisops.TLSCredentials
	if cert != nil {
		if cert.creds == nil { // no certificate the nodes could start with yet
			c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonTLSSecretRefused, "%v: the nodes start once it holds a usable certificate", cert.refused)
			return cert.refused
		}
		rc = c.followLinks(ctx, rc, cert, passwords)
		creds = linkCredentials(rc, cert)
	}
	redis := c.redis.get(key, passwords, creds)
	o, report, err := c.observe(ctx, rc, redis, password, creds)
	if err != nil {
		return err
	}
	if err := c.stepNodeCertificate(ctx, rc, cert, o); err != nil {
		return err
	}
	o.Restore = c.restoreState(rc, o)
	d := plan.Decide(o)
	c.restoreEnded(rc, &d.Status)
	done, actErr := c.act(ctx, rc, redis, o, &d)

	status := d.Status
	if record := plan.Report(&status, rc.Generation, done, o.Now); record != nil && report != nil && report.Running {
		report.task.update(record)
	}
	heldBack, err := c.status.write(ctx, stored, status, time.Now())
	if err != nil {
		return err
	}
	if heldBack == 0 {
		c.migrations.reported(key, report)
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
