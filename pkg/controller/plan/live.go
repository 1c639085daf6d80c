package plan

import (
	"encoding/json"
	"fmt"

	"redis-operator/pkg/controller/objects"
)

// rotated reports whether every pod of the cluster took the running password change.
func rotated(o *Observation) bool {
	if !objects.Rotating(o.ConfigSecret) {
		return false
	}
	version := objects.AuthVersion(o.ConfigSecret)
	for _, pod := range o.Pods {
		if pod.DeletionTimestamp == nil && pod.Annotations[objects.AnnotationAuth] != version {
			return false
		}
	}
	return true
}

// planLive brings every answering node to the live settings and the password of the config
// Secret, which is current when it is called: it is written first, so that a node restarting
// meanwhile starts with them.
func planLive(o *Observation, in *liveCluster) []Action {
	secret := o.ConfigSecret
	if secret == nil || in.View == nil {
		return nil
	}
	var settings map[string]string
	if err := json.Unmarshal(secret.Data[objects.SettingsKey], &settings); err != nil {
		return []Action{WaitFor{Because("config Secret has no readable settings: " + err.Error())}}
	}
	hash := objects.SettingsHash(o.Cluster)
	version := objects.AuthVersion(secret)
	password := string(secret.Data[objects.PasswordKey])
	var out, drops []Action
	everyNodeAdded := true
	for _, n := range in.reachable() {
		pod := o.Pods[n.Index]
		if pod == nil {
			continue
		}
		out = append(out, settingsAction(n, pod, secret, settings, hash)...)
		switch got := pod.Annotations[objects.AnnotationAuth]; {
		case got == version:
		case !objects.Rotating(secret):
			// A pod from before the config Secret: its node took the same password at start.
			out = append(out, ApplyPassword{Because(fmt.Sprintf("record node %d's password", n.Index)), n.Member, password, true, version})
		case got == version+objects.AddedSuffix:
			drops = append(drops, ApplyPassword{Because(fmt.Sprintf("make node %d drop the previous password", n.Index)), n.Member, password, true, version})
		default:
			everyNodeAdded = false
			out = append(out, ApplyPassword{Because(fmt.Sprintf("make node %d take the new password besides the previous one", n.Index)), n.Member, password, false, version})
		}
	}
	for index, pod := range o.Pods {
		if got := pod.Annotations[objects.AnnotationAuth]; pod.DeletionTimestamp == nil && objects.Rotating(secret) && got != version && got != version+objects.AddedSuffix {
			everyNodeAdded = false
			if in.memberAddr(index) == "" {
				out = append(out, WaitFor{Because(fmt.Sprintf("password change waits for node %d to answer", index))})
			}
		}
	}
	if everyNodeAdded {
		out = append(out, drops...)
	}
	return out
}

// memberAddr is the address of the member at index, "" when it has none.
func (o *liveCluster) memberAddr(index int) string {
	for _, m := range o.Members {
		if m.Index == index {
			return m.Addr()
		}
	}
	return ""
}
