package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
)

// setLiveSettings sets a node's live settings and ACL users and records them on its pod. A directive Redis
// takes only at start marks the pod for the rolling update.
func (c *Controller) setLiveSettings(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a plan.ApplySettings) error {
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
	acl, err := setUsers(ctx, redis, a)
	if err != nil {
		return err
	}
	recorded := a.Hash
	if len(result.NeedsRestart) > 0 {
		recorded = objects.RestartPrefix + a.Hash
		c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonSettingsApplied, "Node %d takes %s only at start: its pod is replaced",
			a.Node.Index, strings.Join(result.NeedsRestart, ", "))
	}
	return c.patchPodMetadata(ctx, rc, a.Node.Pod, "annotations", map[string]string{objects.AnnotationSettings: recorded, objects.AnnotationACL: acl})
}

// stepPassword carries out one step of a password change on a node. The first adds the new
// password to what the node takes (a node losing its password takes any at once: SetPassword
// "") and gives its master MasterAuth, which that master takes throughout; the last gives its
// master the new password, then drops the passwords before.
func (c *Controller) stepPassword(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a plan.ApplyPassword) error {
	addr := a.Node.Addr()
	recorded := a.Version
	if a.Drop {
		if err := redis.SetMasterAuth(ctx, addr, a.Password); err != nil {
			return err
		}
		if err := redis.SetPassword(ctx, addr, a.Password); err != nil {
			return err
		}
	} else {
		recorded += objects.AddedSuffix
		add := redis.AddPassword
		if a.Password == "" {
			add = redis.SetPassword
		}
		if err := add(ctx, addr, a.Password); err != nil {
			return err
		}
		if err := redis.SetMasterAuth(ctx, addr, a.MasterAuth); err != nil {
			return err
		}
	}
	return c.annotatePod(ctx, rc, a.Node.Pod, objects.AnnotationAuth, recorded)
}

// probeSettings tries the settings that change on one answering node before the config Secret
// takes them: a directive Redis refuses must never reach the file nodes read at start, where it
// would keep them from starting. The node gets its former values back when one is refused.
func (c *Controller) probeSettings(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, o *plan.Observation, want *corev1.Secret) error {
	var before, after map[string]string
	if o.ConfigSecret != nil {
		_ = json.Unmarshal(o.ConfigSecret.Data[objects.SettingsKey], &before)
	}
	if err := json.Unmarshal(want.Data[objects.SettingsKey], &after); err != nil || before == nil {
		return nil
	}
	changed := map[string]string{}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			changed[k] = v
		}
	}
	addr := plan.FirstAnswering(o)
	if len(changed) == 0 || addr == "" {
		return nil
	}
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
	return c.patchPodMetadata(ctx, rc, pod, "annotations", map[string]string{key: value})
}

// reloadCertificate has a TLS node load the node-certificate files of a's version, with an
// Event once it has (unless it ran the files it started with). Until the kubelet put them in its volume the node cannot load them and
// keeps what it had; the sync looks again shortly.
func (c *Controller) reloadCertificate(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a plan.ReloadCertificate) error {
	addr := a.Node.Addr()
	if err := redis.ReloadCertificate(ctx, addr, objects.VersionedCertificateFiles(a.Version)); err != nil {
		c.log.Debug().Str("namespace", rc.Namespace).Str("cluster", rc.Name).Err(err).
			Msgf("node %d cannot load certificate files %s yet", a.Node.Index, a.Version)
		return nil
	}
	if a.From == "" {
		return nil // the files it started with: no news
	}
	what := ""
	if served, err := redis.ServedCertificate(ctx, addr); err == nil {
		what = fmt.Sprintf(", serving certificate %s (expires %s)", certificateStatus(served).Serial, served.NotAfter.UTC().Format(time.RFC3339))
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonReloadedCertificate,
		"Node %d loaded certificate files %s without a restart%s", a.Node.Index, a.Version, what)
	return nil
}

// switchLinks switches every node's links as a says, one after the other. When one cannot
// switch, those that did switch back: the cluster bus must not stay in two modes.
func (c *Controller) switchLinks(ctx context.Context, rc *redisv1beta1.RedisCluster, redis redisops.Cluster, a plan.SwitchTLS, done *plan.Outcome) error {
	files := objects.VersionedCertificateFiles(a.Version)
	to := func(on bool) *conf.CertificateFiles {
		if on {
			return &files
		}
		return nil
	}
	start := time.Now()
	for i, m := range a.Nodes {
		if err := redis.SwitchTLS(ctx, m.Addr(), m.Port, to(a.On), a.AuthClients); err != nil {
			for _, back := range a.Nodes[:i] {
				if berr := redis.SwitchTLS(ctx, back.Addr(), back.Port, to(!a.On), a.AuthClients); berr != nil {
					err = errors.Join(err, berr)
				}
			}
			c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonSwitchingLinks, "Node %d could not switch its links, the others switched back: %v", m.Index, err)
			return err
		}
	}
	done.Links = redisv1beta1.LinksPlain
	if a.On {
		done.Links = redisv1beta1.LinksTLS
	}
	c.recordEvent(rc, corev1.EventTypeNormal, plan.ReasonSwitchingLinks, "Every node switched its links to %s live in %s; its pod is replaced to reopen the links it had",
		done.Links, time.Since(start).Round(time.Millisecond))
	return nil
}
