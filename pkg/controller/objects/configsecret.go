package objects

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/conf"
)

// AnnotationSpecHash on a node's pod is the hash of the pod spec it was built from; a pod whose
// hash differs from the current spec's is replaced by the rolling update.
const AnnotationSpecHash = "redis.redis/pod-spec-hash"

// AnnotationTemporary marks the pod of a rolling update's temporary node: it stays temporary
// when a scale-out makes its index a wanted one, until the roll is over and it is removed.
const AnnotationTemporary = "redis.redis/temporary"

// Keys of the config Secret.
const (
	// ConfigFileKey holds the directives the operator applies live, which every node includes
	// at start so that a restart keeps them.
	ConfigFileKey = "redis.conf"
	// PasswordKey holds the password nodes take; absent without one.
	PasswordKey = "password"
	// MonitorPasswordKey holds the exporter's own password (conf.MonitorUser), made once.
	MonitorPasswordKey = "exporter-password"
	// SettingsKey holds the live settings as JSON, to tell which of them change.
	SettingsKey = "settings"
	// UsersKey holds the spec's ACL users as JSON (conf.User: passwords by their SHA-256).
	UsersKey = "users"
	// HeldPasswordsKey holds, while a password change runs, the passwords of the changes before
	// it that a node may still take, as JSON by auth version ("" for none). The operator
	// authenticates with any of them until every node took the current change: a node that
	// missed one change (stopped, or the next change came first) still takes an older one.
	HeldPasswordsKey = "held-passwords"
	// previousPasswordKey is HeldPasswordsKey's former form, one password of the version before:
	// read from a Secret an older operator wrote mid-change.
	previousPasswordKey = "previous-password"
	// AuthVersionKey counts password changes; each node's pod records the one it has taken.
	AuthVersionKey = "auth-version"
	// SettledKey holds when every node was first seen to have taken the current change
	// (RFC 3339). The held passwords are kept HeldPasswordsGrace longer: a container restarting
	// meanwhile may read the config file the kubelet has not refreshed yet.
	SettledKey = "passwords-settled-at"
)

// HeldPasswordsGrace is how long the older passwords are held after every node took a change:
// the kubelet refreshes a mounted Secret within about a minute, its sync period plus its cache.
const HeldPasswordsGrace = 3 * time.Minute

// SettledAt is when every node was first seen to have taken secret's change, zero before.
func SettledAt(secret *corev1.Secret) time.Time {
	if secret == nil {
		return time.Time{}
	}
	at, err := time.Parse(time.RFC3339, string(secret.Data[SettledKey]))
	if err != nil {
		return time.Time{}
	}
	return at
}

// MarkSettled records in want, which still holds older passwords, when every node was first
// seen to have taken the change: existing's record, or now.
func MarkSettled(want, existing *corev1.Secret, now time.Time) {
	if !Rotating(want) {
		return
	}
	at := SettledAt(existing)
	if at.IsZero() {
		at = now
	}
	want.Data[SettledKey] = []byte(at.UTC().Format(time.RFC3339))
}

// Pod annotations recording what a node took live.
const (
	// AnnotationSettings is the hash of the live settings the node runs with, prefixed with
	// RestartPrefix when Redis takes one of them only at start.
	AnnotationSettings = "redis.redis/settings-hash"
	// AnnotationAuth is the auth version the node took, suffixed with AddedSuffix while it
	// still accepts the previous password too.
	AnnotationAuth = "redis.redis/auth-version"
	// AnnotationACL is ACLHash of the node's ACL LIST after its users were last applied: a
	// node that lists other users since (a restart that read an older file) takes them again.
	AnnotationACL = "redis.redis/acl-hash"
	RestartPrefix = "restart:"
	AddedSuffix   = ":added"
)

// ConfigSecretName is the Secret every node of rc mounts: its live settings and password.
func ConfigSecretName(rc *redisv1beta1.RedisCluster) string {
	return rc.Name + "-config"
}

// liveSettings are the directives that can change on running nodes, without a restart.
func liveSettings(rc *redisv1beta1.RedisCluster) map[string]string {
	user := make(map[string]string, len(rc.Spec.Config))
	for k, v := range rc.Spec.Config {
		user[k] = string(v)
	}
	return conf.LiveSettings(rc.Spec.MaxMemory, int64(rc.Spec.NodeTimeoutMillis()), user)
}

// ConfigSecret is the config Secret of rc for nodes taking password ("" for none), the
// exporter's user taking monitorPassword (the one existing holds, made once) and users, following
// existing: a password that differs from existing's starts a change (the version goes up, the
// former password is held with its version). rotated says every node took existing's change:
// no node holds an older password any more.
func ConfigSecret(rc *redisv1beta1.RedisCluster, password, monitorPassword string, users []conf.User, existing *corev1.Secret, rotated bool) *corev1.Secret {
	settings := liveSettings(rc)
	encoded, _ := json.Marshal(settings) // a map of strings always encodes
	data := map[string][]byte{
		ConfigFileKey:      []byte(conf.File(settings, password, monitorPassword, users)),
		SettingsKey:        encoded,
		MonitorPasswordKey: []byte(monitorPassword),
	}
	if len(users) > 0 {
		data[UsersKey], _ = json.Marshal(users) // strings only
	}
	if password != "" {
		data[PasswordKey] = []byte(password)
	}
	version := 0
	if existing != nil {
		version, _ = strconv.Atoi(string(existing.Data[AuthVersionKey]))
		held := heldPasswords(existing)
		if rotated {
			held = map[string]string{}
		}
		if now := string(existing.Data[PasswordKey]); now != password {
			held[strconv.Itoa(version)] = now
			version++
		}
		if len(held) > 0 {
			data[HeldPasswordsKey], _ = json.Marshal(held) // a map of strings always encodes
		}
	}
	data[AuthVersionKey] = []byte(strconv.Itoa(version))
	return &corev1.Secret{ObjectMeta: ownedMeta(rc, ConfigSecretName(rc), nil), Type: corev1.SecretTypeOpaque, Data: data}
}

// heldPasswords are the older passwords secret holds by auth version, empty when no change runs.
func heldPasswords(secret *corev1.Secret) map[string]string {
	held := map[string]string{}
	if raw, ok := secret.Data[HeldPasswordsKey]; ok {
		_ = json.Unmarshal(raw, &held) // only this package writes it
	} else if previous, ok := secret.Data[previousPasswordKey]; ok {
		version, _ := strconv.Atoi(AuthVersion(secret))
		held[strconv.Itoa(version-1)] = string(previous)
	}
	return held
}

// SettingsHash is a short hash of rc's live settings, the exporter user's rules and the users
// secret holds. Without users it is what it was before there were any, so that an upgrade
// applies nothing again.
func SettingsHash(rc *redisv1beta1.RedisCluster, secret *corev1.Secret) string {
	return shortHash([]byte(conf.File(liveSettings(rc), "", "", Users(secret)) + conf.MonitorRulesVersion()))
}

// Users are the ACL users secret holds, none without a config Secret.
func Users(secret *corev1.Secret) []conf.User {
	var users []conf.User
	if secret != nil {
		_ = json.Unmarshal(secret.Data[UsersKey], &users) // only this package writes it
	}
	return users
}

// PodSpecHash is a short hash of a pod spec as the operator builds it.
func PodSpecHash(spec *corev1.PodSpec) string {
	raw, err := json.Marshal(spec)
	if err != nil {
		panic(err) // a PodSpec always marshals
	}
	return shortHash(raw)
}

func shortHash(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// AuthVersion is the password change the config Secret is at, "0" before the first.
func AuthVersion(secret *corev1.Secret) string {
	if secret == nil || len(secret.Data[AuthVersionKey]) == 0 {
		return "0"
	}
	return string(secret.Data[AuthVersionKey])
}

// Rotating reports whether a password change runs: nodes may still take an older password.
func Rotating(secret *corev1.Secret) bool {
	return secret != nil && len(heldPasswords(secret)) > 0
}

// Passwords are the passwords to authenticate with, in order: the one nodes take, then, while
// a change runs, the older ones, newest first. Before the cluster has a config Secret, its nodes
// take the password its passwordSecret holds.
func Passwords(secret *corev1.Secret, password string) []string {
	if secret == nil {
		return []string{password}
	}
	out := []string{string(secret.Data[PasswordKey])}
	held := heldPasswords(secret)
	versions := make([]int, 0, len(held))
	for v := range held {
		n, _ := strconv.Atoi(v)
		versions = append(versions, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(versions)))
	for _, v := range versions {
		if p := held[strconv.Itoa(v)]; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// PasswordAt is the password nodes took with the auth version (as a pod records it, without
// AddedSuffix); false when secret no longer holds it.
func PasswordAt(secret *corev1.Secret, version string) (string, bool) {
	if secret == nil {
		return "", false
	}
	if version == AuthVersion(secret) {
		return string(secret.Data[PasswordKey]), true
	}
	p, ok := heldPasswords(secret)[version]
	return p, ok
}

// LiveAnnotations are what a pod created now records: it starts with the config Secret's
// settings and password.
func LiveAnnotations(rc *redisv1beta1.RedisCluster, secret *corev1.Secret) map[string]string {
	return map[string]string{AnnotationSettings: SettingsHash(rc, secret), AnnotationAuth: AuthVersion(secret)}
}

// MonitorPassword is the exporter user's password secret holds, "" before it has one.
func MonitorPassword(secret *corev1.Secret) string {
	if secret == nil {
		return ""
	}
	return string(secret.Data[MonitorPasswordKey])
}

// ACLHash is a short hash of an ACL LIST's lines.
func ACLHash(listing []string) string {
	return shortHash([]byte(strings.Join(listing, "\n")))
}
