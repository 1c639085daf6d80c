package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types reported in RedisClusterStatus.Conditions.
const (
	// ConditionReady is True once the live Redis Cluster matches the latest spec and is healthy.
	ConditionReady = "Ready"
	// ConditionScaling is True while masters or replicas are being added or removed.
	ConditionScaling = "Scaling"
	// ConditionDegraded is True while the cluster serves with less redundancy or lost data.
	ConditionDegraded = "Degraded"
	// ConditionUpdating is True while pods built from an older spec are replaced one by one.
	ConditionUpdating = "Updating"
)

// Node roles reported in NodeStatus.Role.
const (
	RoleMaster  = "master"
	RoleReplica = "replica"
)

// RedisClusterStatus is the observed state of a Redis Cluster.
type RedisClusterStatus struct {
	// ObservedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions are Ready, Scaling, Updating and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Links says how the nodes' links run: TLS or Plain. It follows spec.tls once every node
	// switched live; empty for a cluster from an operator before it, whose links follow spec.tls.
	// +optional
	// +kubebuilder:validation:Enum=TLS;Plain
	Links string `json:"links,omitempty"`

	// ReadyMasters counts masters that serve their slots.
	// +optional
	ReadyMasters int32 `json:"readyMasters"`

	// ReadyReplicas counts replicas whose link to their master is up.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`

	// UpdatedNodes counts the nodes whose pod was built from the current spec.
	// +optional
	UpdatedNodes int32 `json:"updatedNodes"`

	// Selector is the label selector of the cluster's pods, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`

	// Nodes lists every Redis node of the cluster.
	// +optional
	// +listType=map
	// +listMapKey=pod
	Nodes []NodeStatus `json:"nodes,omitempty"`

	// Migration is the slot migration under way, if any.
	// +optional
	Migration *MigrationStatus `json:"migration,omitempty"`

	// LastMigration is the last migration that ran to its end, with what interrupted it.
	// +optional
	LastMigration *MigrationStatus `json:"lastMigration,omitempty"`

	// LastScaleTime is when masters or replicas were last changed by the operator or autoscaling.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`

	// Restore is the restore spec.restore asked for, once the operator read its manifest.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`
}

// Phases of a restore.
const (
	RestoreRunning   = "Running"
	RestoreSucceeded = "Succeeded"
	RestoreFailed    = "Failed"
)

// RestoreStatus is a restore's progress and the backup's shards it puts in place.
type RestoreStatus struct {
	// Phase is Running until every shard's node serves the backup's keys, then Succeeded;
	// Failed when a snapshot or a key count does not match the manifest.
	// +kubebuilder:validation:Enum=Running;Succeeded;Failed
	Phase string `json:"phase"`

	// Location is s3://<bucket>/<key prefix>/ of the backup.
	Location string `json:"location"`

	// Message says what failed, or what the restore waits for.
	// +optional
	Message string `json:"message,omitempty"`

	// Shards are the backup's shards: shard K is put in place on node K.
	Shards []BackupShard `json:"shards"`
}

// NodeStatus describes one Redis node.
type NodeStatus struct {
	// Pod is the name of the node's pod.
	Pod string `json:"pod"`
	// IP is the address the node announces.
	// +optional
	IP string `json:"ip,omitempty"`
	// Port is the node's client port.
	Port int32 `json:"port"`
	// Role is master or replica.
	// +optional
	Role string `json:"role,omitempty"`
	// NodeID is the Redis Cluster node id.
	// +optional
	NodeID string `json:"nodeID,omitempty"`
	// MasterNodeID is the node id of a replica's master.
	// +optional
	MasterNodeID string `json:"masterNodeID,omitempty"`
	// Slots are the slot ranges a master owns, such as "0-5460".
	// +optional
	Slots []string `json:"slots,omitempty"`
	// Ready is true when the node answers and says cluster_state:ok. A node that does not
	// answer keeps its last known role, id and slots.
	// +optional
	Ready bool `json:"ready"`
	// Certificate is the certificate a TLS cluster's node served at the operator's last
	// handshake with it.
	// +optional
	Certificate *CertificateStatus `json:"certificate,omitempty"`
}

// CertificateStatus names a certificate a node serves.
type CertificateStatus struct {
	// Serial is the certificate's serial number, in hexadecimal.
	Serial string `json:"serial"`
	// NotAfter is when it expires.
	NotAfter metav1.Time `json:"notAfter"`
}

// MigrationStatus records a slot migration so that a restarted operator resumes it.
type MigrationStatus struct {
	// SlotsPlanned is how many slots the current plan moves.
	SlotsPlanned int32 `json:"slotsPlanned"`
	// SlotsDone is how many of them have moved.
	SlotsDone int32 `json:"slotsDone"`
	// Step says what the migration is doing, such as "moving slots from node 2 to node 3".
	// +optional
	Step string `json:"step,omitempty"`
	// StartTime is when the plan started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the cluster was back in shape after the migration.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Interruptions says what stopped the migration on the way (a lost node, a failed command)
	// and how the operator repaired it, oldest first; at most the last 10.
	// +optional
	// +listType=atomic
	Interruptions []string `json:"interruptions,omitempty"`
	// LostSlots are the slot ranges ("0-5460") whose keys were lost on the way: rolled back
	// from a node that died with keys it had received, or given empty to a new owner after
	// their master died without a replica. Empty when no key was lost.
	// +optional
	// +listType=atomic
	LostSlots []string `json:"lostSlots,omitempty"`
}
