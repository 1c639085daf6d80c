package plan

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// SwitchTLS switches the links of every node to TLS (On, with the node-certificate Secret's
// files of Version) or back to plain, live and one node after the other. The nodes' links open
// before stay as they are; the roll that follows (the pods of the new mode) reopens them.
type SwitchTLS struct {
	Because
	Nodes       []Member
	On          bool
	Version     string
	AuthClients string
}

// linksOf is status.links for TLS links or plain ones.
func linksOf(tls bool) string {
	if tls {
		return redisv1beta1.LinksTLS
	}
	return redisv1beta1.LinksPlain
}

// planLinks switches the nodes' links to what spec.tls asks for, once every node answers and
// runs a pod of the current spec (which, switching to TLS, mounts the certificate): every node
// at once, so that the cluster bus is in one mode but for the moments in between.
func planLinks(o *Observation, in *liveCluster) []Action {
	rc := o.Cluster
	want := rc.Spec.TLS != nil
	if want == rc.RunsTLS() {
		return nil
	}
	wait := func(why string) []Action { return []Action{WaitFor{Because("switching the links waits: " + why)}} }
	if want && o.CertificateVersion == "" {
		return wait("no certificate the nodes could load yet")
	}
	reachable := map[int]bool{}
	for _, n := range in.reachable() {
		reachable[n.Index] = true
	}
	for _, m := range in.Members {
		switch {
		case m.Extra:
			return wait(fmt.Sprintf("node %d is to go first", m.Index))
		case !m.Current:
			return wait(fmt.Sprintf("node %d's pod is to be replaced first", m.Index))
		case !reachable[m.Index]:
			return wait(fmt.Sprintf("node %d does not answer", m.Index))
		}
	}
	what := "plain"
	if want {
		what = "TLS"
	}
	return []Action{SwitchTLS{Because: Because(fmt.Sprintf("spec.tls asks for %s links: every node switches live", what)),
		Nodes: in.Members, On: want, Version: o.CertificateVersion, AuthClients: rc.Spec.TLSAuthClients()}}
}

// applyLinks pins status.links (to spec.tls for a new cluster or one from an operator before
// it), and says in Updating what a switch of the links waits for.
func applyLinks(status *redisv1beta1.RedisClusterStatus, o *Observation, actions []Action) {
	rc := o.Cluster
	if status.Links == "" || len(o.Pods) == 0 {
		status.Links = linksOf(rc.Spec.TLS != nil)
	}
	if (rc.Spec.TLS != nil) == rc.RunsTLS() || !meta.IsStatusConditionFalse(status.Conditions, redisv1beta1.ConditionUpdating) {
		return
	}
	why := "pods are replaced to mount the certificate first"
	for _, a := range actions {
		switch a := a.(type) {
		case WaitFor:
			why = a.Why()
		case SwitchTLS:
			why = a.Why()
		}
	}
	SetCondition(status, rc.Generation, redisv1beta1.ConditionUpdating, metav1.ConditionTrue, ReasonSwitchingLinks, BoundText(why, MaxConditionMessage))
}
