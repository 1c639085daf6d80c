// Package objects builds the Kubernetes objects a RedisCluster wants, from its spec alone: node
// pods, data claims, the config Secret, disruption budgets, the exporters' Service, and the names,
// labels and annotations they carry.
package objects

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/conf"
)

// Labels and names specific to Redis nodes.
const (
	// LabelNodeIndex is the node's index N; it listens on basePort+N.
	LabelNodeIndex = "redis.redis/node-index"
	// LabelPort is the node's client port, as the original operator labelled it.
	LabelPort = "port"

	RedisContainer    = "redis"
	ExporterContainer = "redis-exporter"
	dataVolume        = "data"
	dataDir           = "/data"
	configVolume      = "config"
	configDir         = "/etc/redis-operator"
	tlsVolume         = "tls"
	tlsDir            = "/etc/redis-tls"
	exporterPortName  = "metrics"
)

// TLSCAKey is the key of a TLS Secret that holds the CA's certificate, as cert-manager names it.
const TLSCAKey = "ca.crt"

// PodName is the name of node index's pod. A node's identity is its index: a replacement pod
// gets the same name and port.
func PodName(rc *redisv1beta1.RedisCluster, index int) string {
	return fmt.Sprintf("%s-%d", rc.Name, index)
}

// ClaimName is the name of node index's PersistentVolumeClaim.
func ClaimName(rc *redisv1beta1.RedisCluster, index int) string {
	return fmt.Sprintf("data-%s-%d", rc.Name, index)
}

// ExporterServiceName is the headless Service through which Prometheus finds the exporters.
func ExporterServiceName(rc *redisv1beta1.RedisCluster) string {
	return rc.Name + "-exporter"
}

// NodeIndex returns the node index a pod of the operator carries.
func NodeIndex(pod *corev1.Pod) (int, bool) {
	index, err := strconv.Atoi(pod.Labels[LabelNodeIndex])
	return index, err == nil && index >= 0
}

func ownerRef(rc *redisv1beta1.RedisCluster) metav1.OwnerReference {
	return *metav1.NewControllerRef(rc, redisv1beta1.SchemeGroupVersion.WithKind("RedisCluster"))
}

// ownedMeta is the metadata of rc's object name: in rc's namespace, with the cluster's labels
// and extra ones, controlled by rc.
func ownedMeta(rc *redisv1beta1.RedisCluster, name string, extra map[string]string) metav1.ObjectMeta {
	labels := ClusterLabels(rc)
	for k, v := range extra {
		labels[k] = v
	}
	return metav1.ObjectMeta{Name: name, Namespace: rc.Namespace, Labels: labels, OwnerReferences: []metav1.OwnerReference{ownerRef(rc)}}
}

// Pod is the pod of node index: host network, client port basePort+N, cluster bus on
// +10000, exporter on +20000, data on an emptyDir or the node's claim.
func Pod(rc *redisv1beta1.RedisCluster, index int) *corev1.Pod {
	spec := &rc.Spec
	port := spec.NodePort(index)
	pod := &corev1.Pod{
		ObjectMeta: ownedMeta(rc, PodName(rc, index), map[string]string{
			LabelNodeIndex: strconv.Itoa(index), LabelPort: strconv.Itoa(int(port)),
		}),
		Spec: corev1.PodSpec{
			HostNetwork:      true,
			DNSPolicy:        corev1.DNSClusterFirstWithHostNet,
			RestartPolicy:    corev1.RestartPolicyAlways,
			Containers:       []corev1.Container{redisContainerSpec(rc, port)},
			Volumes:          []corev1.Volume{dataVolumeSpec(rc, index), configVolumeSpec(rc)},
			ImagePullSecrets: spec.ImagePullSecrets,
			SecurityContext:  spec.SecurityContext,
			NodeSelector:     spec.NodeSelector,
			Tolerations:      spec.Tolerations,
			Affinity:         podAffinity(rc),
		},
	}
	if TLSFiles(rc) != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: tlsVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: NodeCertificateSecretName(rc)},
		}})
	}
	pod.Annotations = map[string]string{}
	if spec.ExporterEnabled() {
		pod.Spec.Containers = append(pod.Spec.Containers, exporterContainerSpec(rc, port))
		pod.Annotations["prometheus.io/scrape"] = "true"
		pod.Annotations["prometheus.io/port"] = strconv.Itoa(int(port + redisv1beta1.ExporterPortOffset))
	}
	pod.Annotations[AnnotationSpecHash] = PodSpecHash(&pod.Spec)
	if index >= spec.NodeCount() {
		pod.Annotations[AnnotationTemporary] = "true" // only a roll creates a pod above the wanted nodes
	}
	return pod
}

// podIPEnv gives containers the address the node announces; on the host network it is the
// Kubernetes node's address.
var podIPEnv = corev1.EnvVar{
	Name:      "POD_IP",
	ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
}

// exporterAuthEnv logs the exporter in as its own user, with the password the cluster's config
// Secret made for it: it never changes, so the env read at the container's start stays good
// through every change of the nodes' password.
func exporterAuthEnv(rc *redisv1beta1.RedisCluster) []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "REDIS_USER", Value: conf.MonitorUser}, {
		Name: "REDIS_PASSWORD",
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigSecretName(rc)},
			Key:                  MonitorPasswordKey,
		}},
	}}
}

func redisContainerSpec(rc *redisv1beta1.RedisCluster, port int32) corev1.Container {
	spec := &rc.Spec
	args := conf.Server{
		Include: configDir + "/" + ConfigFileKey,
		Port:    port, BusPort: port + redisv1beta1.BusPortOffset,
		Address: "$(POD_IP)",
		Dir:     dataDir,
		TLS:     TLSFiles(rc), PlainLinks: !rc.RunsTLS(),
	}.Args()

	container := corev1.Container{
		Name:            RedisContainer,
		Image:           spec.ImageRef(),
		ImagePullPolicy: spec.ImagePullPolicy,
		Command:         []string{"redis-server"},
		Args:            args,
		Env:             []corev1.EnvVar{podIPEnv},
		Ports: []corev1.ContainerPort{
			{Name: "redis", ContainerPort: port, Protocol: corev1.ProtocolTCP},
			{Name: "cluster-bus", ContainerPort: port + redisv1beta1.BusPortOffset, Protocol: corev1.ProtocolTCP},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: dataVolume, MountPath: dataDir},
			{Name: configVolume, MountPath: configDir, ReadOnly: true},
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
			PeriodSeconds:    2,
			FailureThreshold: 3,
		},
		// Generous: a MIGRATE of a big key blocks Redis for seconds, which must not restart it.
		LivenessProbe: &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
			InitialDelaySeconds: 10,
			PeriodSeconds:       10,
			FailureThreshold:    6,
		},
	}
	if TLSFiles(rc) != nil {
		container.VolumeMounts = append(container.VolumeMounts, tlsMount)
	}
	if spec.Resources != nil {
		container.Resources = *spec.Resources
	}
	return container
}

// TLSFiles are the files a TLS cluster's nodes load from the node-certificate Secret's volume,
// nil for a plain cluster. A cluster switching its links to TLS or back has them too.
func TLSFiles(rc *redisv1beta1.RedisCluster) *conf.TLS {
	if rc.Spec.TLS == nil && !rc.RunsTLS() {
		return nil
	}
	return &conf.TLS{
		CertFile: tlsDir + "/" + corev1.TLSCertKey, KeyFile: tlsDir + "/" + corev1.TLSPrivateKeyKey, CAFile: tlsDir + "/" + TLSCAKey,
		AuthClients: rc.Spec.TLSAuthClients(),
	}
}

var tlsMount = corev1.VolumeMount{Name: tlsVolume, MountPath: tlsDir, ReadOnly: true}

func exporterContainerSpec(rc *redisv1beta1.RedisCluster, port int32) corev1.Container {
	metricsPort := port + redisv1beta1.ExporterPortOffset
	scheme, tlsArgs, mounts := "redis", []string(nil), []corev1.VolumeMount(nil)
	if files := TLSFiles(rc); files != nil && rc.RunsTLS() {
		// The exporter scrapes its own pod's node over TLS with the node's certificate. It cannot
		// check the chain without the name, as the operator does, and the node certificate need
		// not name the node's address: it skips the check on this same-host link.
		scheme, mounts = "rediss", []corev1.VolumeMount{tlsMount}
		tlsArgs = []string{"--tls-client-cert-file", files.CertFile, "--tls-client-key-file", files.KeyFile,
			"--tls-ca-cert-file", files.CAFile, "--skip-tls-verification"}
	}
	return corev1.Container{
		Name:            ExporterContainer,
		Image:           rc.Spec.ExporterImageRef(),
		ImagePullPolicy: rc.Spec.ImagePullPolicy,
		Command:         []string{"/redis_exporter"},
		Args: append([]string{
			fmt.Sprintf("--redis.addr=%s://$(POD_IP):%d", scheme, port),
			fmt.Sprintf("--web.listen-address=$(POD_IP):%d", metricsPort),
		}, tlsArgs...),
		Env:          append([]corev1.EnvVar{podIPEnv}, exporterAuthEnv(rc)...),
		Ports:        []corev1.ContainerPort{{Name: exporterPortName, ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP}},
		VolumeMounts: mounts,
		Resources:    rc.Spec.ExporterResourceRequirements(),
	}
}

func configVolumeSpec(rc *redisv1beta1.RedisCluster) corev1.Volume {
	return corev1.Volume{Name: configVolume, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: ConfigSecretName(rc)},
	}}
}

func dataVolumeSpec(rc *redisv1beta1.RedisCluster, index int) corev1.Volume {
	if rc.Spec.PersistenceEnabled() {
		return corev1.Volume{Name: dataVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(rc, index)},
		}}
	}
	return corev1.Volume{Name: dataVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// podAffinity spreads the cluster's nodes over Kubernetes nodes, so that a master and its
// replicas rarely share one; the user's affinity replaces it.
func podAffinity(rc *redisv1beta1.RedisCluster) *corev1.Affinity {
	if rc.Spec.Affinity != nil {
		return rc.Spec.Affinity
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   rc.Spec.TopologyKeyOrDefault(),
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelManagedBy: ManagedByValue, LabelInstance: rc.Name}},
			},
		}},
	}}
}

// Claim is the PersistentVolumeClaim of node index. Claims carry no owner reference to
// the pod, so a replacement pod finds its node's data; the cluster owns them.
func Claim(rc *redisv1beta1.RedisCluster, index int) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: ownedMeta(rc, ClaimName(rc, index), map[string]string{LabelNodeIndex: strconv.Itoa(index)}),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: rc.Spec.Persistence.StorageClass,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: rc.Spec.PersistenceSize()},
			},
		},
	}
}

// ExporterService is the headless Service listing every node's exporter; its port targets
// the container port named metrics, which differs from node to node.
func ExporterService(rc *redisv1beta1.RedisCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: ownedMeta(rc, ExporterServiceName(rc), nil),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{LabelManagedBy: ManagedByValue, LabelInstance: rc.Name},
			Ports: []corev1.ServicePort{{
				Name: exporterPortName, Port: 9121, TargetPort: intstr.FromString(exporterPortName), Protocol: corev1.ProtocolTCP,
			}},
			PublishNotReadyAddresses: true,
		},
	}
}

// TLSSecretName is the Secret a TLS cluster's certificate comes from: spec.tls.secretName, or
// the one the operator makes when that is empty.
func TLSSecretName(rc *redisv1beta1.RedisCluster) string {
	if rc.Spec.TLS != nil && rc.Spec.TLS.SecretName != "" {
		return rc.Spec.TLS.SecretName
	}
	return rc.Name + "-tls"
}

// TLSCASecretName is the Secret of the CA the operator makes a TLS cluster without a
// spec.tls.secretName (ca.crt and ca.key).
func TLSCASecretName(rc *redisv1beta1.RedisCluster) string {
	return rc.Name + "-tls-ca"
}

// OwnedSecret is a Secret of rc named name holding data.
func OwnedSecret(rc *redisv1beta1.RedisCluster, name string, kind corev1.SecretType, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: ownedMeta(rc, name, nil), Type: kind, Data: data}
}

// NodeCertificateSecretName is the Secret whose certificate a TLS cluster's nodes load: the
// operator copies the user's Secret into it once it has checked it, so a node never loads one it
// refused, whenever the kubelet refreshes the files.
func NodeCertificateSecretName(rc *redisv1beta1.RedisCluster) string {
	return rc.Name + "-node-certificate"
}

// NodeCertificateSecret is the cluster's node-certificate Secret holding files (tls.crt,
// tls.key and ca.crt), which nodes start with, and the same under names of their version
// (CertificateVersion), which running nodes load: a node that loaded them says by their names
// which files it runs, and one cannot load them before the kubelet put them in its volume.
func NodeCertificateSecret(rc *redisv1beta1.RedisCluster, files map[string][]byte) *corev1.Secret {
	data := make(map[string][]byte, 6)
	named := VersionedCertificateFiles(CertificateVersion(files))
	for key, name := range map[string]string{corev1.TLSCertKey: named.Cert, corev1.TLSPrivateKeyKey: named.Key, TLSCAKey: named.CA} {
		data[key], data[name] = files[key], files[key]
	}
	return &corev1.Secret{
		ObjectMeta: ownedMeta(rc, NodeCertificateSecretName(rc), nil),
		Type:       corev1.SecretTypeTLS,
		Data:       data,
	}
}

// CertificateVersion is a short hash of a certificate's files (tls.crt, tls.key, ca.crt).
func CertificateVersion(files map[string][]byte) string {
	var all []byte
	for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, TLSCAKey} {
		all = append(append(all, files[key]...), 0)
	}
	return shortHash(all)
}

// VersionedCertificateFiles are the names of a certificate's files of version in the
// node-certificate Secret's volume.
func VersionedCertificateFiles(version string) conf.CertificateFiles {
	return conf.CertificateFiles{Cert: "v-" + version + ".crt", Key: "v-" + version + ".key", CA: "v-" + version + "-ca.crt"}
}

// LoadedVersion is the version of the files a node runs with, "" for files of no version (the
// ones a node starts with) or of several.
func LoadedVersion(files conf.CertificateFiles) string {
	version := strings.TrimSuffix(strings.TrimPrefix(files.Cert, "v-"), ".crt")
	if files.Cert == "" || VersionedCertificateFiles(version) != files {
		return ""
	}
	return version
}
