package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/conf"
)

// ReadBackDirectives are the directives observe reads back from every node to tell whether it
// runs the live settings: those of the config Secret and those with a default a removed
// setting returns to, and the files a TLS node runs with. None before the cluster has a config
// Secret.
func ReadBackDirectives(o *Observation) []string {
	if o.ConfigSecret == nil {
		return nil
	}
	var settings map[string]string
	if json.Unmarshal(o.ConfigSecret.Data[objects.SettingsKey], &settings) != nil {
		return nil
	}
	out := make([]string, 0, len(settings)+len(conf.Defaults))
	for k := range conf.Wanted(settings) {
		out = append(out, k)
	}
	if o.Cluster.Spec.TLS != nil || o.Cluster.RunsTLS() {
		out = append(out, conf.TLSFileDirectives...)
	}
	sort.Strings(out)
	return out
}

// settingsAction brings node n to the live settings and ACL users: all of them when its pod did
// not record the current hash, and, when it did, the directives the node reads back otherwise
// (a restart that read an older file, a setting removed from the spec, a change behind the
// operator's back), or all when its ACL LIST is not what its pod recorded after the last
// apply. A pod waiting to be replaced for a directive taken only at start is left to the roll.
func settingsAction(n reachableMember, pod *corev1.Pod, secret *corev1.Secret, settings map[string]string, hash string) []Action {
	apply := func(why string, settings map[string]string) []Action {
		return []Action{ApplySettings{Because(why), n.Member, settings, string(secret.Data[objects.MonitorPasswordKey]), objects.Users(secret), hash}}
	}
	switch got := pod.Annotations[objects.AnnotationSettings]; got {
	case objects.RestartPrefix + hash:
		return nil
	case hash:
	default:
		return apply(fmt.Sprintf("apply the live settings to node %d", n.Index), settings)
	}
	drift := driftedSettings(conf.Wanted(settings), n.State.Config)
	if len(drift) == 0 {
		if n.State.ACL != nil && pod.Annotations[objects.AnnotationACL] != objects.ACLHash(n.State.ACL) {
			return apply(fmt.Sprintf("node %d runs other ACL users than it was given", n.Index), settings)
		}
		return nil
	}
	keys := make([]string, 0, len(drift))
	all := make(map[string]string, len(settings)+len(drift))
	for k, v := range settings {
		all[k] = v
	}
	for k, v := range drift {
		keys = append(keys, k)
		all[k] = v
	}
	sort.Strings(keys)
	return apply(fmt.Sprintf("node %d runs other values of %s than the live settings", n.Index, strings.Join(keys, ", ")), all)
}

// driftedSettings are the wanted directives whose value the node read back differs; a
// directive it did not report (not read, unknown to its version) is not compared.
func driftedSettings(wanted, running map[string]string) map[string]string {
	out := map[string]string{}
	for k, want := range wanted {
		if got, ok := running[k]; ok && !conf.Runs(k, want, got) {
			out[k] = want
		}
	}
	return out
}
