package controller

import (
	"errors"

	"k8s.io/client-go/tools/cache"

	"redis-operator/pkg/controller/plan"
)

// CheckMasters says why the cluster namespace/name, as the operator last saw it, cannot run with
// masters: a scale-out onto host ports another cluster's pods hold, or a scale-in whose
// remaining masters would not hold the keys within their maxmemory. It returns nil when the
// change fits, or when the operator has not seen the cluster. The Alertmanager webhook asks
// before it changes spec.masters.
func (c *Controller) CheckMasters(namespace, name string, masters int32) error {
	seen, ok := c.lastSeen.Load(cache.ObjectName{Namespace: namespace, Name: name})
	if !ok {
		return nil
	}
	o := seen.(*plan.Observation)
	rc := o.Cluster.DeepCopy()
	rc.Spec.Masters = masters
	if masters > o.Cluster.Spec.Masters {
		held, err := c.portsHeldElsewhere(rc, o.Pods)
		if err != nil || len(held) == 0 {
			return err
		}
		return errors.New(plan.HeldMessage(held))
	}
	if o.View == nil || masters == o.Cluster.Spec.Masters {
		return nil
	}
	if why := plan.MemoryRefusal(o, masters); why != "" {
		return errors.New(why)
	}
	return nil
}
