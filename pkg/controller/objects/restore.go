package objects

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// Keys of a backup destination's credentials Secret.
const (
	AccessKeyIDKey     = "accessKeyID"
	SecretAccessKeyKey = "secretAccessKey"
)

// RestoreContainer is the name of the init container that puts a backup's shard in place.
const RestoreContainer = "restore"

// RestoreRefusedExit is its exit code when the shard can never be put in place: an object that
// is not the manifest's, or a data directory that holds data already.
const RestoreRefusedExit = 2

// RestoreSource names one shard of a backup in a destination.
type RestoreSource struct {
	// Image is the operator's own, whose restore-shard command does the work.
	Image       string
	Destination *redisv1beta1.BackupDestination
	// StorePrefix is the folder of the backup, Name, in the bucket; Shard the shard's index.
	StorePrefix, Name string
	Shard             int
}

// WithRestore adds to a node's pod the init container that puts the shard of src in its data
// directory, checked against the backup's manifest, before Redis starts. The pod's spec hash
// leaves it out: the pod is the same node's once the restore is over.
func WithRestore(pod *corev1.Pod, src RestoreSource) {
	dest := src.Destination
	args := []string{"restore-shard", "--endpoint", dest.Endpoint, "--region", dest.Region, "--bucket", dest.Bucket,
		"--prefix", src.StorePrefix, "--backup", src.Name, "--shard", fmt.Sprint(src.Shard), "--dir", dataDir}
	if dest.Insecure {
		args = append(args, "--insecure")
	}
	optional := false
	secretEnv := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: dest.CredentialsSecret}, Key: key, Optional: &optional}}}
	}
	container := corev1.Container{
		Name: RestoreContainer, Image: src.Image, Args: args, ImagePullPolicy: corev1.PullIfNotPresent,
		Env:          []corev1.EnvVar{secretEnv("AWS_ACCESS_KEY_ID", AccessKeyIDKey), secretEnv("AWS_SECRET_ACCESS_KEY", SecretAccessKeyKey)},
		VolumeMounts: []corev1.VolumeMount{{Name: dataVolume, MountPath: dataDir}},
	}
	if ca := dest.CASecret; ca != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "restore-ca", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: ca.Name, Items: []corev1.KeyToPath{{Key: ca.Key, Path: "ca.crt"}}}}})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "restore-ca", MountPath: "/etc/restore-ca", ReadOnly: true})
		container.Args = append(container.Args, "--endpoint-ca", "/etc/restore-ca/ca.crt")
	}
	if psc := pod.Spec.SecurityContext; psc == nil || psc.RunAsUser == nil {
		// The operator's image runs as a non-root user, which may not write the data volume;
		// restore-shard gives what it writes to the owner of the data directory.
		root := int64(0)
		container.SecurityContext = &corev1.SecurityContext{RunAsUser: &root, RunAsGroup: &root}
	}
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, container)
}
