package plan

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
)

// CertificatesToCheck are the addresses of the reachable nodes of o whose status names another
// certificate than the Secret's, or none: the nodes sync asks by a handshake which they serve.
func CertificatesToCheck(o *Observation) []string {
	if o.Certificate == nil || o.View == nil {
		return nil
	}
	recorded := map[string]string{}
	for _, n := range o.Cluster.Status.Nodes {
		if n.Certificate != nil {
			recorded[n.Pod] = n.Certificate.Serial
		}
	}
	var out []string
	for _, m := range WantedMembers(o.Cluster, o.Pods, o.Claims) {
		if st := o.View.Nodes[m.Addr()]; st != nil && st.Err == nil && recorded[m.Pod] != o.Certificate.Serial {
			out = append(out, m.Addr())
		}
	}
	return out
}

// loadedVersion is the version of the node-certificate files node st runs with, "" for the
// files it started with; false when its files were not read.
func loadedVersion(st *topology.NodeState) (string, bool) {
	if st == nil || st.Err != nil || st.Config == nil {
		return "", false
	}
	name := func(i int) string { return path.Base(st.Config[conf.TLSFileDirectives[i]]) }
	return objects.LoadedVersion(conf.CertificateFiles{Cert: name(0), Key: name(1), CA: name(2)}), true
}

// CertificateSettled reports whether every answering node of a TLS cluster runs the
// node-certificate Secret's files: only then may the Secret move on to other files.
func CertificateSettled(o *Observation) bool {
	if o.View == nil {
		return false
	}
	for _, m := range WantedMembers(o.Cluster, o.Pods, o.Claims) {
		st := o.View.Nodes[m.Addr()]
		if st == nil || st.Err != nil {
			continue // it starts with the Secret's files
		}
		if version, ok := loadedVersion(st); !ok || version != o.CertificateVersion {
			return false
		}
	}
	return true
}

// planCertificates has every node that runs other files than the node-certificate Secret's
// load them.
func planCertificates(o *Observation, members []Member) []Action {
	if o.Certificate == nil || o.View == nil {
		return nil
	}
	var out []Action
	for _, m := range members {
		version, ok := loadedVersion(o.View.Nodes[m.Addr()])
		if !ok || version == o.CertificateVersion {
			continue
		}
		out = append(out, ReloadCertificate{
			Because: Because(fmt.Sprintf("node %d runs certificate files %q, the node-certificate Secret holds %s: it loads them",
				m.Index, version, o.CertificateVersion)),
			Node: m, From: version, Version: o.CertificateVersion,
		})
	}
	return out
}

// applyCertificates records in status the certificate each node served at its last handshake,
// and, while some node serves another than the Secret's, says which in the Updating condition
// (unless a rolling update holds it).
func applyCertificates(status *redisv1beta1.RedisClusterStatus, generation int64, o *Observation) {
	if o.Certificate == nil {
		return
	}
	last := map[string]*redisv1beta1.CertificateStatus{}
	for _, n := range o.Cluster.Status.Nodes {
		last[n.Pod] = n.Certificate
	}
	var behind []string
	current := 0
	for i := range status.Nodes {
		n := &status.Nodes[i]
		if served, ok := o.ServedCertificates[fmt.Sprintf("%s:%d", n.IP, n.Port)]; ok {
			n.Certificate = served.DeepCopy()
		} else if was := last[n.Pod]; was != nil {
			n.Certificate = was.DeepCopy()
		}
		version, read := "", false
		if o.View != nil {
			version, read = loadedVersion(o.View.Nodes[fmt.Sprintf("%s:%d", n.IP, n.Port)])
		}
		switch {
		case n.Certificate == nil:
		case n.Certificate.Serial != o.Certificate.Serial:
			behind = append(behind, fmt.Sprintf("%s serves %s", n.Pod, n.Certificate.Serial))
		case read && version != o.CertificateVersion:
			behind = append(behind, fmt.Sprintf("%s runs files %q", n.Pod, version))
		default:
			current++
		}
	}
	if len(behind) == 0 || !meta.IsStatusConditionFalse(status.Conditions, redisv1beta1.ConditionUpdating) {
		return
	}
	SetCondition(status, generation, redisv1beta1.ConditionUpdating, metav1.ConditionTrue, ReasonRotatingCertificate,
		BoundText(fmt.Sprintf("%d of %d nodes run certificate files %s, serving %s (expires %s); %s", current, len(status.Nodes),
			o.CertificateVersion, o.Certificate.Serial, o.Certificate.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), strings.Join(behind, ", ")), MaxConditionMessage))
}

// reportTLSRefused says in Degraded, and once in an Event, that the TLS Secret holds a
// certificate nodes could not load or trust: every node, a new one included, keeps loading the
// last certificate that passed, from the operator's node-certificate Secret.
func reportTLSRefused(d *Decision, o *Observation) {
	if o.TLSRefused != "" {
		reportDegraded(d, o, ReasonTLSSecretRefused, o.TLSRefused+"; the nodes keep the last certificate that passed")
	}
}

// reportDegraded sets Degraded for reason, after what Degraded already says for another, with
// an Event when the cluster was not Degraded for reason before.
func reportDegraded(d *Decision, o *Observation, reason, why string) {
	status, generation := &d.Status, o.Cluster.Generation
	if old := meta.FindStatusCondition(o.Cluster.Status.Conditions, redisv1beta1.ConditionDegraded); old == nil || old.Reason != reason {
		d.Events = append(d.Events, Event{corev1.EventTypeWarning, reason, why})
	}
	if degraded := meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionDegraded); degraded != nil &&
		degraded.Status == metav1.ConditionTrue && degraded.Reason != reason {
		why = degraded.Message + "; " + why
	}
	SetCondition(status, generation, redisv1beta1.ConditionDegraded, metav1.ConditionTrue, reason, BoundText(why, MaxConditionMessage))
}
