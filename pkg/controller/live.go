package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
)

// ApplySettings sets the live settings on the node with CONFIG SET, makes the exporter's user
// log in with MonitorPassword and records Hash on its pod.
type ApplySettings struct {
	Because
	Node            Member
	Settings        map[string]string
	MonitorPassword string
	Hash            string
}

// ApplyPassword moves the node to Password: first it accepts Password besides the previous one
// and gives it to its master (Drop false), then, once every node got that far, it accepts only
// Password (Drop true). Version is recorded on its pod.
type ApplyPassword struct {
	Because
	Node     Member
	Password string
	Drop     bool
	Version  string
}

// AuthVersion is the password change the config Secret is at, "0" before the first.
func AuthVersion(secret *corev1.Secret) string {
	if secret == nil || len(secret.Data[AuthVersionKey]) == 0 {
		return "0"
	}
	return string(secret.Data[AuthVersionKey])
}

// Rotating reports whether a password change runs: nodes may still take the previous one.
func Rotating(secret *corev1.Secret) bool {
	if secret == nil {
		return false
	}
	_, ok := secret.Data[PreviousPasswordKey]
	return ok
}

// Passwords are the passwords to authenticate with, in order: the one nodes take, then,
// while a change runs, the previous one. Before the cluster has a config Secret, its nodes take
// the password its passwordSecret holds.
func Passwords(secret *corev1.Secret, password string) []string {
	if secret == nil {
		return []string{password}
	}
	out := []string{string(secret.Data[PasswordKey])}
	if previous, ok := secret.Data[PreviousPasswordKey]; ok && string(previous) != out[0] {
		out = append(out, string(previous))
	}
	return out
}

// rotated reports whether every pod of the cluster took the running password change.
func rotated(o *Observation) bool {
	if !Rotating(o.ConfigSecret) {
		return false
	}
	version := AuthVersion(o.ConfigSecret)
	for _, pod := range o.Pods {
		if pod.DeletionTimestamp == nil && pod.Annotations[AnnotationAuth] != version {
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
	if err := json.Unmarshal(secret.Data[SettingsKey], &settings); err != nil {
		return []Action{WaitFor{Because("config Secret has no readable settings: " + err.Error())}}
	}
	hash := SettingsHash(o.Cluster)
	version := AuthVersion(secret)
	password := string(secret.Data[PasswordKey])
	var out, drops []Action
	everyNodeAdded := true
	for _, n := range in.reachable() {
		pod := o.Pods[n.Index]
		if pod == nil {
			continue
		}
		if got := pod.Annotations[AnnotationSettings]; got != hash && got != RestartPrefix+hash {
			out = append(out, ApplySettings{Because(fmt.Sprintf("apply the live settings to node %d", n.Index)), n.Member, settings,
				string(secret.Data[MonitorPasswordKey]), hash})
		}
		switch got := pod.Annotations[AnnotationAuth]; {
		case got == version:
		case !Rotating(secret):
			// A pod from before the config Secret: its node took the same password at start.
			out = append(out, ApplyPassword{Because(fmt.Sprintf("record node %d's password", n.Index)), n.Member, password, true, version})
		case got == version+AddedSuffix:
			drops = append(drops, ApplyPassword{Because(fmt.Sprintf("make node %d drop the previous password", n.Index)), n.Member, password, true, version})
		default:
			everyNodeAdded = false
			out = append(out, ApplyPassword{Because(fmt.Sprintf("make node %d take the new password besides the previous one", n.Index)), n.Member, password, false, version})
		}
	}
	for index, pod := range o.Pods {
		if got := pod.Annotations[AnnotationAuth]; pod.DeletionTimestamp == nil && Rotating(secret) && got != version && got != version+AddedSuffix {
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

// setLiveSettings sets a node's live settings and records them on its pod. A directive Redis
// takes only at start marks the pod for the rolling update.
func (c *Controller) setLiveSettings(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a ApplySettings) error {
	result, err := redis.SetConfig(ctx, a.Node.Addr(), a.Settings)
	if err != nil {
		return err
	}
	if len(result.Refused) > 0 {
		return fmt.Errorf("node %d refused %s", a.Node.Index, refusals(result.Refused))
	}
	if a.MonitorPassword != "" {
		if err := redis.SetUser(ctx, a.Node.Addr(), conf.MonitorUser, conf.MonitorRules(a.MonitorPassword)); err != nil {
			return err
		}
	}
	recorded := a.Hash
	if len(result.NeedsRestart) > 0 {
		recorded = RestartPrefix + a.Hash
		c.recordEvent(rc, corev1.EventTypeNormal, ReasonSettingsApplied, "Node %d takes %s only at start: its pod is replaced",
			a.Node.Index, strings.Join(result.NeedsRestart, ", "))
	}
	return c.annotatePod(ctx, rc, a.Node.Pod, AnnotationSettings, recorded)
}

// stepPassword carries out one step of a password change on a node.
func (c *Controller) stepPassword(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a ApplyPassword) error {
	addr := a.Node.Addr()
	recorded := a.Version
	if a.Drop {
		if err := redis.SetPassword(ctx, addr, a.Password); err != nil {
			return err
		}
	} else {
		recorded += AddedSuffix
		if a.Password != "" {
			if err := redis.AddPassword(ctx, addr, a.Password); err != nil {
				return err
			}
		}
	}
	if err := redis.SetMasterAuth(ctx, addr, a.Password); err != nil {
		return err
	}
	return c.annotatePod(ctx, rc, a.Node.Pod, AnnotationAuth, recorded)
}

// probeSettings tries the settings that change on one answering node before the config Secret
// takes them: a directive Redis refuses must never reach the file nodes read at start, where it
// would keep them from starting. The node gets its former values back when one is refused.
func (c *Controller) probeSettings(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, o *Observation, want *corev1.Secret) error {
	var before, after map[string]string
	if o.ConfigSecret != nil {
		_ = json.Unmarshal(o.ConfigSecret.Data[SettingsKey], &before)
	}
	if err := json.Unmarshal(want.Data[SettingsKey], &after); err != nil || before == nil {
		return nil
	}
	changed := map[string]string{}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			changed[k] = v
		}
	}
	in := plannerInput(rc, o)
	nodes := in.reachable()
	if len(changed) == 0 || len(nodes) == 0 {
		return nil
	}
	addr := nodes[0].Addr()
	result, err := redis.SetConfig(ctx, addr, changed)
	if err != nil || len(result.Refused) == 0 {
		return err
	}
	restore := map[string]string{}
	for _, k := range result.Applied {
		if old, ok := before[k]; ok {
			restore[k] = old
		}
	}
	if len(restore) > 0 {
		_, _ = redis.SetConfig(ctx, addr, restore)
	}
	return &refusedSettings{refusals(result.Refused)}
}

// refusedSettings says which settings Redis refused; nothing of the change was applied.
type refusedSettings struct{ what string }

func (r *refusedSettings) Error() string {
	return "Redis refuses " + r.what + ": the config change is not applied"
}

func refusals(refused map[string]string) string {
	keys := make([]string, 0, len(refused))
	for k := range refused {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("config %s (%s)", k, refused[k])
	}
	return strings.Join(parts, ", ")
}

// annotatePod records what a node took on its pod.
func (c *Controller) annotatePod(ctx context.Context, rc *redisv1beta1.RedisCluster, pod, key, value string) error {
	patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"annotations": map[string]string{key: value}}})
	if _, err := c.kubeClient.CoreV1().Pods(rc.Namespace).Patch(ctx, pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("recording %s=%s on pod %s: %w", key, value, pod, err)
	}
	return nil
}

// LiveAnnotations are what a pod created now records: it starts with the config Secret's
// settings and password.
func LiveAnnotations(rc *redisv1beta1.RedisCluster, secret *corev1.Secret) map[string]string {
	return map[string]string{AnnotationSettings: SettingsHash(rc), AnnotationAuth: AuthVersion(secret)}
}
