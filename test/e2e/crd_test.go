package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// seedCluster is the RedisCluster of examples/rediscluster.yaml, the seed manifest, moved to
// namespace.
func seedCluster(t *testing.T, namespace string) string {
	raw, err := os.ReadFile(filepath.Join(f.Root, "examples", "rediscluster.yaml"))
	require.NoError(t, err)
	docs := strings.Split(string(raw), "\n---\n")
	return strings.Replace(docs[len(docs)-1], "namespace: cache", "namespace: "+namespace, 1)
}

func kubectlApply(t *testing.T, manifest string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.KubectlApply(ctx, manifest)
}

func TestCRDAcceptsTheSeedManifestAndRefusesBadOnes(t *testing.T) {
	f.InstallCRD(t)
	ns := f.Namespace(t, "crd")
	seed := seedCluster(t, ns)

	cases := []struct{ name, from, to, field string }{
		{"masters 0", "masters: 3", "masters: 0", "spec.masters"},
		{"masters -1", "masters: 3", "masters: -1", "spec.masters"},
		{"replicas -1", "replicas: 1", "replicas: -1", "spec.replicas"},
		{"basePort 0", "basePort: 10000", "basePort: 0", "spec.basePort"},
		{"basePort 70000", "basePort: 10000", "basePort: 70000", "spec.basePort"},
		{"maxMemory lots", "maxMemory: 512mb", "maxMemory: lots", "spec.maxMemory"},
		{"no room for the ports", "basePort: 10000", "basePort: 45532", "spec.basePort"},
		{"empty image", "image: awbrg789/redis:latest", `image: ""`, "spec.image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := kubectlApply(t, strings.Replace(seed, tc.from, tc.to, 1))
			require.Error(t, err, "the API server must refuse it: %s", out)
			require.Contains(t, out, tc.field, "the message names the field")
			_, getErr := f.Redis.RedisV1beta1().RedisClusters(ns).Get(context.Background(), "rediscluster1", metav1.GetOptions{})
			require.Error(t, getErr, "nothing was stored")
		})
	}

	out, err := kubectlApply(t, seed)
	require.NoError(t, err, out)
	stored, err := f.Redis.RedisV1beta1().RedisClusters(ns).Get(context.Background(), "rediscluster1", metav1.GetOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 3, stored.Spec.Masters)
	require.EqualValues(t, 5000, stored.Spec.NodeTimeoutMillis(), "defaults are applied by the API server")
	require.EqualValues(t, 200, stored.Spec.ExporterResources.Limits.Cpu().MilliValue())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err = f.Kubectl(ctx, "-n", ns, "scale", "rdc/rediscluster1", "--replicas=5")
	require.NoError(t, err, out)
	scaled, err := f.Redis.RedisV1beta1().RedisClusters(ns).Get(ctx, "rediscluster1", metav1.GetOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 5, scaled.Spec.Masters, "the scale subresource sets spec.masters")

	out, err = f.Kubectl(ctx, "-n", ns, "get", "rdc")
	require.NoError(t, err, out)
	require.Contains(t, out, "MASTERS")
	require.Contains(t, out, "rediscluster1")
	out, err = f.Kubectl(ctx, "-n", ns, "delete", "rdc/rediscluster1", "--wait=true")
	require.NoError(t, err, out)
}

// TestCRDRefusesANameTooLongForTheExporterService: the exporter Service <name>-exporter must be
// a DNS label of at most 63 characters, so the API server refuses a name of more than 54
// characters, saying the field and the limit, rather than storing a cluster that creates nothing.
func TestCRDRefusesANameTooLongForTheExporterService(t *testing.T) {
	f.InstallCRD(t)
	ns := f.Namespace(t, "crd-name")
	seed := seedCluster(t, ns)
	longest := "r" + strings.Repeat("x", 53)

	tooLong := longest + "x"
	out, err := kubectlApply(t, strings.Replace(seed, "name: rediscluster1", "name: "+tooLong, 1))
	require.Error(t, err, "the API server must refuse a name of %d characters: %s", len(tooLong), out)
	require.Contains(t, out, "metadata.name", "the message names the field")
	require.Contains(t, out, "at most 54 characters", "the message says the limit")
	t.Logf("refused: %s", out)
	_, getErr := f.Redis.RedisV1beta1().RedisClusters(ns).Get(context.Background(), tooLong, metav1.GetOptions{})
	require.Error(t, getErr, "nothing was stored")

	out, err = kubectlApply(t, strings.Replace(seed, "name: rediscluster1", "name: 1cache", 1))
	require.Error(t, err, "a name that is no DNS-1035 label is refused: %s", out)
	require.Contains(t, out, "DNS-1035")

	out, err = kubectlApply(t, strings.Replace(seed, "name: rediscluster1", "name: "+longest, 1))
	require.NoError(t, err, "a name of %d characters is accepted: %s", len(longest), out)
	require.NoError(t, f.Redis.RedisV1beta1().RedisClusters(ns).Delete(context.Background(), longest, metav1.DeleteOptions{}))
}

// TestCRDRefusesABasePortChangeAndBadConfig: basePort cannot change on a stored cluster, and
// config refuses directives the operator relies on, in any letter case, and multi-line values.
func TestCRDRefusesABasePortChangeAndBadConfig(t *testing.T) {
	f.InstallCRD(t)
	ns := f.Namespace(t, "crd-change")
	seed := seedCluster(t, ns)
	out, err := kubectlApply(t, seed)
	require.NoError(t, err, out)

	port := regexp.MustCompile(`basePort: [0-9]+`)
	out, err = kubectlApply(t, port.ReplaceAllString(seed, "basePort: 20000"))
	require.Error(t, err, out)
	require.Contains(t, out, "spec.basePort")
	require.Contains(t, out, "immutable")

	maxMemory := regexp.MustCompile(`maxMemory: \S+`)
	for _, config := range []string{`{Port: "1"}`, `{save: ""}`, `{cluster-require-full-coverage: "no"}`, `{hz: "10\nport 1"}`} {
		out, err = kubectlApply(t, maxMemory.ReplaceAllStringFunc(seed, func(m string) string { return m + "\n  config: " + config }))
		require.Error(t, err, "%s: %s", config, out)
		require.Contains(t, out, "spec.config", config)
	}
}
