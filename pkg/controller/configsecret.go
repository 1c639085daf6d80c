package controller

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// AnnotationSpecHash on a node's pod is the hash of the pod spec it was built from; a pod whose
// hash differs from the current spec's is replaced by the rolling update.
const AnnotationSpecHash = "redis.redis/pod-spec-hash"

// Keys of the config Secret.
const (
	// configFileKey holds the directives the operator applies live, which every node includes
	// at start so that a restart keeps them.
	configFileKey = "redis.conf"
	// passwordKey holds the password nodes take, for the exporter; absent without one.
	passwordKey = "password"
)

// ConfigSecretName is the Secret every node of rc mounts: its live settings and password.
func ConfigSecretName(rc *redisv1beta1.RedisCluster) string {
	return rc.Name + "-config"
}

// liveSettings are the directives that can change on running nodes with CONFIG SET: maxmemory,
// the node timeout and the user's config.
func liveSettings(rc *redisv1beta1.RedisCluster) map[string]string {
	out := map[string]string{
		"maxmemory":            rc.Spec.MaxMemory,
		"cluster-node-timeout": strconv.Itoa(int(rc.Spec.NodeTimeoutMillis())),
	}
	for k, v := range rc.Spec.Config {
		out[k] = string(v)
	}
	return out
}

// renderConfig writes settings and the password as redis.conf lines, sorted, each value quoted
// as one argument (a multi-word value such as client-output-buffer-limit's is split by Redis).
func renderConfig(settings map[string]string, password string) string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + " " + quoteConfig(settings[k]) + "\n")
	}
	if password != "" {
		b.WriteString("requirepass " + quoteConfig(password) + "\n")
		b.WriteString("masterauth " + quoteConfig(password) + "\n")
	}
	return b.String()
}

// quoteConfig quotes a value the way redis.conf reads a double-quoted argument.
func quoteConfig(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// desiredConfigSecret is the config Secret of rc for nodes taking password ("" for none).
func desiredConfigSecret(rc *redisv1beta1.RedisCluster, password string) *corev1.Secret {
	data := map[string][]byte{configFileKey: []byte(renderConfig(liveSettings(rc), password))}
	if password != "" {
		data[passwordKey] = []byte(password)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ConfigSecretName(rc),
			Namespace:       rc.Namespace,
			Labels:          clusterLabels(rc),
			OwnerReferences: []metav1.OwnerReference{ownerRef(rc)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

// podSpecHash is a short hash of a pod spec as the operator builds it.
func podSpecHash(spec *corev1.PodSpec) string {
	raw, err := json.Marshal(spec)
	if err != nil {
		panic(err) // a PodSpec always marshals
	}
	h := fnv.New64a()
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}
