package plan

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"redis-operator/pkg/controller/objects"
)

// rotated reports whether every pod of the cluster took the running password change, and no
// node runs an older password than its pod records.
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
	if o.View != nil {
		for _, st := range o.View.Nodes {
			if st.OlderPassword {
				return false
			}
		}
	}
	return true
}

// heldPasswords says whether the older passwords of a change every node took may go
// (objects.HeldPasswordsGrace after it settled), and how long they are still held if not.
func heldPasswords(o *Observation) (settled, forget bool, left time.Duration) {
	if !rotated(o) {
		return false, false, 0
	}
	at := objects.SettledAt(o.ConfigSecret)
	if at.IsZero() {
		return true, false, objects.HeldPasswordsGrace
	}
	if left = objects.HeldPasswordsGrace - o.Now.Sub(at); left > 0 {
		return true, false, left
	}
	return true, true, 0
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
	hash := objects.SettingsHash(o.Cluster, secret)
	version := objects.AuthVersion(secret)
	password := string(secret.Data[objects.PasswordKey])
	var out, replicaDrops, masterDrops []Action
	everyNodeAdded := true
	for _, n := range in.reachable() {
		pod := o.Pods[n.Index]
		if pod == nil {
			continue
		}
		out = append(out, settingsAction(n, pod, secret, settings, hash)...)
		switch got := pod.Annotations[objects.AnnotationAuth]; {
		case got == version && n.State.OlderPassword:
			everyNodeAdded = false
			out = append(out, ApplyPassword{Because(fmt.Sprintf("make node %d, which runs an older password than its pod records (a restart read an older config file), take the new one", n.Index)),
				n.Member, password, masterAuth(o, in, n, password), false, version})
		case got == version:
		case !objects.Rotating(secret):
			// A pod from before the config Secret: its node took the same password at start.
			out = append(out, ApplyPassword{Because(fmt.Sprintf("record node %d's password", n.Index)), n.Member, password, password, true, version})
		case got == version+objects.AddedSuffix:
			drop := ApplyPassword{Because(fmt.Sprintf("make node %d drop the passwords before", n.Index)), n.Member, password, password, true, version}
			if n.Self.Master() {
				masterDrops = append(masterDrops, drop)
			} else {
				replicaDrops = append(replicaDrops, drop)
			}
		default:
			everyNodeAdded = false
			out = append(out, ApplyPassword{Because(fmt.Sprintf("make node %d take the new password besides the ones before", n.Index)),
				n.Member, password, masterAuth(o, in, n, password), false, version})
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
		// Replicas give their master the new password before it stops taking the old ones.
		out = append(append(out, replicaDrops...), masterDrops...)
	}
	return out
}

// masterAuth is the password node n gives its master while a change runs and n takes the new
// password besides the ones before: one its master takes both before and after it does the
// same, so a replication link that drops meanwhile comes back. That is the password of the
// change the master's pod records (n's own for a master, which may become a replica, or when
// its master does not answer), unless that is none: a node without a password takes any, and
// will require the new one.
func masterAuth(o *Observation, in *liveCluster, n reachableMember, password string) string {
	source := n.Member
	if !n.Self.Master() {
		for _, m := range in.reachable() {
			if m.Self.ID == n.Self.MasterID {
				source = m.Member
			}
		}
	}
	if pod := o.Pods[source.Index]; pod != nil {
		recorded := strings.TrimSuffix(pod.Annotations[objects.AnnotationAuth], objects.AddedSuffix)
		if held, ok := objects.PasswordAt(o.ConfigSecret, recorded); ok && held != "" {
			return held
		}
	}
	return password
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
