package objects

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/redisops/conf"
)

// argValue returns the value following flag in args.
func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	t.Fatalf("flag %s not in %v", flag, args)
	return ""
}

func containerNamed(t *testing.T, pod *corev1.Pod, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod %s has no container %s", pod.Name, name)
	return corev1.Container{}
}

func TestDesiredPodOfSeedCluster(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	rc.Spec.ExporterResources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}
	pod := Pod(rc, 4)

	require.Equal(t, "rediscluster1-4", pod.Name)
	require.Equal(t, "cache", pod.Namespace)
	require.True(t, pod.Spec.HostNetwork)
	require.Equal(t, corev1.DNSClusterFirstWithHostNet, pod.Spec.DNSPolicy)
	require.Equal(t, "rediscluster1", pod.Labels[LabelClusterName], "the original operator's label stays")
	require.Equal(t, "4", pod.Labels[LabelNodeIndex])
	require.Equal(t, "10004", pod.Labels[LabelPort])
	require.Len(t, pod.OwnerReferences, 1)
	require.True(t, *pod.OwnerReferences[0].Controller)
	require.Equal(t, rc.UID, pod.OwnerReferences[0].UID)

	redis := containerNamed(t, pod, RedisContainer)
	require.Equal(t, "awbrg789/redis:latest", redis.Image)
	require.Equal(t, "10004", argValue(t, redis.Args, "--port"))
	require.Equal(t, "20004", argValue(t, redis.Args, "--cluster-port"))
	require.Equal(t, "$(POD_IP)", argValue(t, redis.Args, "--cluster-announce-ip"))
	require.Equal(t, "/etc/redis-operator/redis.conf", redis.Args[1], "live settings come from the config Secret")
	require.Equal(t, "--include", redis.Args[0], "first, so the operator's own directives win")
	require.NotContains(t, redis.Args, "--maxmemory", "applied live, not fixed in the pod")
	require.Equal(t, "0", argValue(t, redis.Args, "--repl-diskless-sync-delay"))
	require.Equal(t, "yes", argValue(t, redis.Args, "--appendonly"), "data outlives a container restart")
	require.Equal(t, "redis", redis.Ports[0].Name)
	require.EqualValues(t, 10004, redis.Ports[0].ContainerPort)
	require.EqualValues(t, 10004, redis.ReadinessProbe.TCPSocket.Port.IntValue())
	require.NotNil(t, pod.Spec.Volumes[0].EmptyDir)

	exporter := containerNamed(t, pod, ExporterContainer)
	require.Equal(t, "oliver006/redis_exporter:v1.62.0", exporter.Image)
	require.EqualValues(t, 30004, exporter.Ports[0].ContainerPort)
	require.Equal(t, "200m", exporter.Resources.Limits.Cpu().String(), "exporterResources still applies")
	require.Contains(t, exporter.Args, "--redis.addr=redis://$(POD_IP):10004")
	require.Equal(t, "30004", pod.Annotations["prometheus.io/port"])

	terms := pod.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	require.Len(t, terms, 1)
	require.Equal(t, corev1.LabelHostname, terms[0].PodAffinityTerm.TopologyKey)
}

func TestDesiredPodHonoursOptionalFields(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	rc.Spec.Tag = "7.0.15"
	rc.Spec.ClusterNodeTimeout = ptr.To[int32](2000)
	rc.Spec.PasswordSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "pw"}
	rc.Spec.Config = map[string]redisv1beta1.ConfigValue{"maxmemory-policy": "allkeys-lru", "hz": "20"}
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
	rc.Spec.Exporter = &redisv1beta1.ExporterSpec{
		Image: "quay.io/opstree/redis-exporter", Tag: "v1.44.0",
		Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
	}
	rc.Spec.ExporterResources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}
	rc.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
	pod := Pod(rc, 0)

	redis := containerNamed(t, pod, RedisContainer)
	require.Equal(t, "awbrg789/redis:7.0.15", redis.Image)
	require.NotContains(t, redis.Args, "--requirepass", "the password lives in the config Secret")
	require.Equal(t, "yes", argValue(t, redis.Args, "--appendonly"))
	require.Equal(t, "data-rediscluster1-0", pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	require.Equal(t, "rediscluster1-config", pod.Spec.Volumes[1].Secret.SecretName)

	secret := ConfigSecret(rc, `s3"cr\et`, "exporter-secret", nil, nil, false)
	file, monitor := string(secret.Data[ConfigFileKey]), string(secret.Data[MonitorPasswordKey])
	require.Equal(t, "exporter-secret", monitor, "the exporter's own password, as made once by the controller")
	require.Equal(t, "cluster-node-timeout \"2000\"\nhz \"20\"\nmaxmemory \"512mb\"\nmaxmemory-policy \"allkeys-lru\"\n"+
		"requirepass \"s3\\\"cr\\\\et\"\nmasterauth \"s3\\\"cr\\\\et\"\n"+
		"user redis-exporter "+strings.Join(conf.MonitorRules(monitor), " ")+"\n", file, "sorted, quoted as redis.conf reads them")
	require.NotContains(t, file, monitor, "the file holds the exporter's password's hash only")
	withPassword := PodSpecHash(&pod.Spec)
	rc.Spec.PasswordSecret, rc.Spec.Config, rc.Spec.MaxMemory = nil, nil, "1gb"
	require.Equal(t, withPassword, PodSpecHash(&Pod(rc, 0).Spec), "password and live settings change no pod")

	exporter := containerNamed(t, pod, ExporterContainer)
	require.Equal(t, "quay.io/opstree/redis-exporter:v1.44.0", exporter.Image)
	require.Contains(t, exporter.Env, corev1.EnvVar{Name: "REDIS_USER", Value: conf.MonitorUser})
	require.Contains(t, exporter.Env, corev1.EnvVar{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "rediscluster1-config"}, Key: "exporter-password"},
	}}, "the exporter's own password, which no password change touches")
	require.Equal(t, "100m", exporter.Resources.Limits.Cpu().String(), "exporter.resources wins over exporterResources")
	require.Same(t, rc.Spec.Affinity, pod.Spec.Affinity)
}

func TestDesiredPodWithoutExporter(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	rc.Spec.Exporter = &redisv1beta1.ExporterSpec{Enabled: ptr.To(false)}
	pod := Pod(rc, 0)
	require.Len(t, pod.Spec.Containers, 1)
	require.NotContains(t, pod.Annotations, "prometheus.io/scrape")
}

// A TLS node serves and presents the certificate of the operator's checked copy of the Secret,
// from a volume, so a renewed certificate reaches the files without a new pod; its exporter
// scrapes over TLS.
func TestDesiredPodOfATLSCluster(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "node-certs"}
	pod := Pod(rc, 2)
	redis, exporter := containerNamed(t, pod, RedisContainer), containerNamed(t, pod, ExporterContainer)
	require.Equal(t, "0", argValue(t, redis.Args, "--port"))
	require.Equal(t, "10002", argValue(t, redis.Args, "--tls-port"))
	require.Equal(t, "yes", argValue(t, redis.Args, "--tls-auth-clients"))
	require.Equal(t, "/etc/redis-tls/tls.crt", argValue(t, redis.Args, "--tls-cert-file"))
	require.Contains(t, redis.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: "/etc/redis-tls", ReadOnly: true})
	require.Contains(t, exporter.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: "/etc/redis-tls", ReadOnly: true})
	require.Contains(t, exporter.Args, "--redis.addr=rediss://$(POD_IP):10002")
	require.Equal(t, "/etc/redis-tls/tls.crt", argValue(t, exporter.Args, "--tls-client-cert-file"))
	var secret string
	for _, v := range pod.Spec.Volumes {
		if v.Name == "tls" {
			secret = v.Secret.SecretName
		}
	}
	require.Equal(t, "rediscluster1-node-certificate", secret, "the operator's checked copy, not the user's Secret")

	plain := Pod(testcluster.Cluster("rediscluster1"), 2)
	require.Equal(t, "10002", argValue(t, containerNamed(t, plain, RedisContainer).Args, "--port"))
	require.NotEqual(t, plain.Annotations[AnnotationSpecHash], pod.Annotations[AnnotationSpecHash])
}

func TestDesiredClaimAndService(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true, StorageClass: ptr.To("fast")}
	claim := Claim(rc, 2)
	require.Equal(t, "data-rediscluster1-2", claim.Name)
	require.Equal(t, "fast", *claim.Spec.StorageClassName)
	require.Equal(t, "1Gi", claim.Spec.Resources.Requests.Storage().String())

	svc := ExporterService(rc)
	require.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP)
	require.Equal(t, exporterPortName, svc.Spec.Ports[0].TargetPort.StrVal)
	require.Equal(t, "rediscluster1", svc.Spec.Selector[LabelInstance])
}

func TestNodeIndex(t *testing.T) {
	rc := testcluster.Cluster("rediscluster1")
	index, ok := NodeIndex(Pod(rc, 7))
	require.True(t, ok)
	require.Equal(t, 7, index)
	_, ok = NodeIndex(&corev1.Pod{})
	require.False(t, ok)
}

// The node-certificate Secret holds its files under fixed names, which nodes start with, and
// under names of their version, which a node loads and then names when asked what it runs.
func TestNodeCertificateSecretNamesItsFilesByVersion(t *testing.T) {
	rc := testcluster.Cluster("rc")
	files := map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key"), "ca.crt": []byte("ca")}
	version := CertificateVersion(files)
	named := VersionedCertificateFiles(version)
	secret := NodeCertificateSecret(rc, files)
	require.Len(t, secret.Data, 6)
	for key, name := range map[string]string{"tls.crt": named.Cert, "tls.key": named.Key, "ca.crt": named.CA} {
		require.Equal(t, files[key], secret.Data[key])
		require.Equal(t, files[key], secret.Data[name])
	}
	require.Equal(t, version, LoadedVersion(named))
	require.Empty(t, LoadedVersion(conf.CertificateFiles{Cert: "tls.crt", Key: "tls.key", CA: "ca.crt"}), "the files a node starts with")
	require.Empty(t, LoadedVersion(conf.CertificateFiles{Cert: named.Cert, Key: named.Key, CA: "v-other-ca.crt"}), "files of two versions")
	files["ca.crt"] = []byte("both CAs")
	require.NotEqual(t, version, CertificateVersion(files), "a CA alone changes the version")
}
