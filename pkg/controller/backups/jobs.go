package backups

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
)

// Names the backup's Jobs and objects carry.
const (
	// LabelBackupUID marks a backup's Jobs; the name may be longer than a label value.
	LabelBackupUID = "redis.redis/backup-uid"
	// LabelScheduledBy marks a backup the cluster's schedule made: retention prunes only these.
	LabelScheduledBy = "redis.redis/scheduled-by"
	// AnnotationScheduledAt is the schedule time (RFC 3339) a scheduled backup is for.
	AnnotationScheduledAt = "redis.redis/scheduled-at"

	// Keys of a destination's credentials Secret.
	AccessKeyIDKey     = objects.AccessKeyIDKey
	SecretAccessKeyKey = objects.SecretAccessKeyKey

	annotationBackup = "redis.redis/backup"
	annotationShard  = "redis.redis/shard"

	tlsMount       = "/etc/redis-tls"
	storeCAMount   = "/etc/backup-ca"
	jobBackoff     = 2
	jobDeadlineSec = 6 * 3600
)

// StorePrefix is the folder of a namespace's backups in a destination: a backup's objects are
// under <destination prefix>/<namespace>/<backup name>/.
func StorePrefix(dest *redisv1beta1.BackupDestination, namespace string) string {
	return path.Join(dest.Prefix, namespace)
}

// Location is the s3:// address of backup name's folder.
func Location(dest *redisv1beta1.BackupDestination, storePrefix, name string) string {
	return "s3://" + path.Join(dest.Bucket, storePrefix, name) + "/"
}

// jobName is short and fixed: Job names become label values (at most 63 characters), and a
// backup's name may be longer.
func jobName(b *redisv1beta1.RedisClusterBackup, index int32) string {
	sum := sha256.Sum256([]byte(b.Namespace + "/" + b.Name + "/" + string(b.UID)))
	return fmt.Sprintf("rdcb-%s-%d", hex.EncodeToString(sum[:6]), index)
}

// shardJob streams one shard's snapshot from the first of sources that answers into the store,
// with the operator's own image, and records it beside the snapshot.
func shardJob(b *redisv1beta1.RedisClusterBackup, rc *redisv1beta1.RedisCluster, dest *redisv1beta1.BackupDestination,
	shard redisv1beta1.BackupShard, sources []string, image string) *batchv1.Job {
	args := []string{"backup-shard",
		"--sources", strings.Join(sources, ","),
		"--shard", fmt.Sprint(shard.Index),
		"--slots", strings.Join(shard.Slots, ","),
		"--node-id", shard.NodeID,
		"--endpoint", dest.Endpoint,
		"--region", dest.Region,
		"--bucket", dest.Bucket,
		"--prefix", StorePrefix(dest, b.Namespace),
		"--backup", b.Name,
	}
	if dest.Insecure {
		args = append(args, "--insecure")
	}
	secretEnv := func(name, secret, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key, Optional: &optional}}}
	}
	env := []corev1.EnvVar{
		secretEnv("AWS_ACCESS_KEY_ID", dest.CredentialsSecret, AccessKeyIDKey, false),
		secretEnv("AWS_SECRET_ACCESS_KEY", dest.CredentialsSecret, SecretAccessKeyKey, false),
	}
	if ref := rc.Spec.PasswordSecret; ref != nil {
		env = append(env, secretEnv("REDIS_PASSWORD", ref.Name, ref.Key, false))
	}
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	mount := func(name, secret, at string, items []corev1.KeyToPath) {
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: secret, Items: items}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: at, ReadOnly: true})
	}
	if rc.RunsTLS() {
		mount("redis-tls", objects.NodeCertificateSecretName(rc), tlsMount, nil)
		args = append(args, "--tls-cert", tlsMount+"/tls.crt", "--tls-key", tlsMount+"/tls.key", "--tls-ca", tlsMount+"/ca.crt")
	}
	if ca := dest.CASecret; ca != nil {
		mount("backup-ca", ca.Name, storeCAMount, []corev1.KeyToPath{{Key: ca.Key, Path: "ca.crt"}})
		args = append(args, "--endpoint-ca", storeCAMount+"/ca.crt")
	}
	backoff, deadline := int32(jobBackoff), int64(jobDeadlineSec)
	labels := map[string]string{objects.LabelManagedBy: objects.ManagedByValue, LabelBackupUID: string(b.UID)}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: jobName(b, shard.Index), Namespace: b.Namespace, Labels: labels,
			Annotations:     map[string]string{annotationBackup: b.Name, annotationShard: fmt.Sprint(shard.Index)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(b, redisv1beta1.SchemeGroupVersion.WithKind("RedisClusterBackup"))},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          &backoff,
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				// No managed-by label: the pod is the Job's, not one of the cluster's nodes.
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelBackupUID: string(b.UID)}},
				Spec: corev1.PodSpec{
					// The nodes announce their hosts' addresses, which clients on the host
					// network reach wherever the pod network cannot.
					HostNetwork:      true,
					DNSPolicy:        corev1.DNSClusterFirstWithHostNet,
					RestartPolicy:    corev1.RestartPolicyNever,
					ImagePullSecrets: rc.Spec.ImagePullSecrets,
					NodeSelector:     rc.Spec.NodeSelector,
					Tolerations:      rc.Spec.Tolerations,
					Volumes:          volumes,
					Containers: []corev1.Container{{
						Name: "backup", Image: image, Args: args, Env: env, VolumeMounts: mounts,
						ImagePullPolicy: corev1.PullIfNotPresent,
					}},
				},
			},
		},
	}
}
