package controller

import (
	"errors"

	"k8s.io/client-go/tools/cache"
)

// CheckMasters says why the cluster namespace/name, as the operator last saw it, cannot run with
// masters: a scale-in whose remaining masters would not hold the keys within their maxmemory.
// It returns nil when the change fits, or when the operator has not seen the cluster's nodes.
// The Alertmanager webhook asks before it changes spec.masters.
func (c *Controller) CheckMasters(namespace, name string, masters int32) error {
	seen, ok := c.lastSeen.Load(cache.ObjectName{Namespace: namespace, Name: name})
	if !ok {
		return nil
	}
	o := seen.(*observation)
	if o.View == nil || masters >= o.Cluster.Spec.Masters {
		return nil
	}
	rc := o.Cluster.DeepCopy()
	rc.Spec.Masters = masters
	in := plannerInput(rc, o)
	owners, _ := o.View.SlotOwners()
	for _, a := range planScale(in, in.reachable(), &owners) {
		if refused, ok := a.(notEnoughMemory); ok {
			return errors.New(refused.why())
		}
	}
	return nil
}
