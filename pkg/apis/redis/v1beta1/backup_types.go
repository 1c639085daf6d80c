package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisClusterBackup is one backup of a RedisCluster: every shard's data, streamed at once from
// a replica of the shard (its master when it has none) into an S3-compatible bucket, and a
// manifest.json written last. A backup without its manifest does not exist.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=rdcb,categories=redis
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.status.shardCount`
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.keys`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Started",type=date,JSONPath=`.status.startTime`
// +kubebuilder:printcolumn:name="Location",type=string,JSONPath=`.status.location`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
type RedisClusterBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RedisClusterBackupSpec   `json:"spec"`
	Status RedisClusterBackupStatus `json:"status,omitempty"`
}

// RedisClusterBackupSpec says which cluster to back up, and where.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a backup is taken once; create another to back up again"
type RedisClusterBackupSpec struct {
	// ClusterName is the RedisCluster, in the backup's namespace, to back up.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=54
	ClusterName string `json:"clusterName"`

	// Destination is where the backup goes: the cluster's spec.backup.destination when unset.
	// The backup's objects go under <prefix>/<namespace>/<backup name>/.
	// +optional
	Destination *BackupDestination `json:"destination,omitempty"`
}

// BackupDestination is a bucket and prefix of an S3-compatible object store.
type BackupDestination struct {
	// Endpoint is the host[:port] of the S3 API, without a scheme.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.\-\[\]:]+$`
	Endpoint string `json:"endpoint"`

	// Insecure talks plain HTTP to the endpoint instead of HTTPS.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// CASecret names the key of a Secret holding the CA certificate (PEM) the endpoint's
	// certificate is checked against, besides the system's.
	// +optional
	CASecret *corev1.SecretKeySelector `json:"caSecret,omitempty"`

	// Region of the bucket.
	// +optional
	// +kubebuilder:default="us-east-1"
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region,omitempty"`

	// Bucket name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.\-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// Prefix of the object names, without leading or trailing '/'.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^([^/]+(/[^/]+)*)?$`
	Prefix string `json:"prefix,omitempty"`

	// CredentialsSecret names a Secret in the namespace holding accessKeyID and secretAccessKey.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecret string `json:"credentialsSecret"`
}

// Phases of a RedisClusterBackup.
const (
	BackupPending   = "Pending"
	BackupRunning   = "Running"
	BackupSucceeded = "Succeeded"
	BackupFailed    = "Failed"
)

// RedisClusterBackupStatus is what the backup did.
type RedisClusterBackupStatus struct {
	// Phase is Pending (waiting for the cluster to be steady), Running, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
	Phase string `json:"phase,omitempty"`

	// Message says why the backup waits or failed.
	// +optional
	Message string `json:"message,omitempty"`

	// StartTime is when the shards' streams were started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the manifest was written, or the backup failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Location is s3://<bucket>/<key prefix>/ of the backup's objects.
	// +optional
	Location string `json:"location,omitempty"`

	// Destination is where the objects went: the spec's, or the cluster's when the backup
	// started, so that a restore finds them once the cluster is gone.
	// +optional
	Destination *BackupDestination `json:"destination,omitempty"`

	// ShardCount is the number of shards, one object each.
	// +optional
	ShardCount int32 `json:"shardCount,omitempty"`

	// Keys counts the keys of every shard, as each snapshot held them.
	// +optional
	Keys int64 `json:"keys,omitempty"`

	// Size is the bytes of every shard's object.
	// +optional
	Size int64 `json:"size,omitempty"`

	// Shards are the shards' snapshots, as the manifest lists them.
	// +optional
	Shards []BackupShard `json:"shards,omitempty"`
}

// BackupShard is one shard's snapshot in a backup.
type BackupShard struct {
	// Index of the shard: the rank of its first slot.
	Index int32 `json:"index"`

	// Slots the shard's master owned when the backup started ("0-5460").
	Slots []string `json:"slots"`

	// NodeID of the master whose data it is.
	NodeID string `json:"nodeID"`

	// Source is the address the snapshot was streamed from.
	// +optional
	Source string `json:"source,omitempty"`

	// Object is the snapshot's object name in the bucket.
	// +optional
	Object string `json:"object,omitempty"`

	// Keys in the snapshot.
	// +optional
	Keys int64 `json:"keys,omitempty"`

	// Size of the snapshot in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`

	// SHA256 of the snapshot, hex.
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// ReplicationOffset of the master the snapshot reflects.
	// +optional
	ReplicationOffset int64 `json:"replicationOffset,omitempty"`
}

// RedisClusterBackupList is a list of RedisClusterBackups.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type RedisClusterBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []RedisClusterBackup `json:"items"`
}

// BackupSpec schedules backups of a cluster and keeps the newest of them.
type BackupSpec struct {
	// Destination of the cluster's backups, scheduled or not.
	Destination BackupDestination `json:"destination"`

	// Schedule is a cron expression (five fields, or @hourly, @daily, @every 1h...) in UTC; when
	// empty, backups are taken only when a RedisClusterBackup asks.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule,omitempty"`

	// Keep is how many succeeded scheduled backups are kept; older ones are deleted with their
	// objects. Backups made by hand are never pruned.
	// +optional
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Keep int32 `json:"keep,omitempty"`
}

// RestoreSpec names the backup a new cluster starts from.
//
// +kubebuilder:validation:XValidation:rule="has(self.backupName) != has(self.destination)",message="restore names either backupName or destination (whose prefix is the backup's own, holding manifest.json)"
type RestoreSpec struct {
	// BackupName is a succeeded RedisClusterBackup in the cluster's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	BackupName string `json:"backupName,omitempty"`

	// Destination names a backup by bucket and prefix: the prefix holding its manifest.json.
	// +optional
	Destination *BackupDestination `json:"destination,omitempty"`
}
