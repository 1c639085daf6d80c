package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisCluster is a Redis Cluster of sharded masters, each with the same number of replicas,
// whose nodes run as host-network pods listening on consecutive ports from basePort.
//
// Its name is at most 54 characters: the name is carried by the exporter Service <name>-exporter,
// which must be a DNS-1035 label of at most 63 characters, and is the tightest of the derived
// names (label values carry the name, at most 63; pods <name>-<index> and claims
// data-<name>-<index>, index below 3000, are DNS subdomains of at most 253). It is a DNS-1035
// label for the same Service.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=rdc,categories=redis
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 54",message="metadata.name: must be at most 54 characters, so that the exporter Service <name>-exporter is a valid DNS label of at most 63 characters"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name: must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit), as the exporter Service <name>-exporter is"
// +kubebuilder:subresource:scale:specpath=.spec.masters,statuspath=.status.readyMasters,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Masters",type=integer,JSONPath=`.spec.masters`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedNodes`
// +kubebuilder:printcolumn:name="Ready Masters",type=integer,JSONPath=`.status.readyMasters`,priority=1
// +kubebuilder:printcolumn:name="Ready Replicas",type=integer,JSONPath=`.status.readyReplicas`,priority=1
// +kubebuilder:printcolumn:name="Base Port",type=integer,JSONPath=`.spec.basePort`,priority=1
// +kubebuilder:printcolumn:name="Max Memory",type=string,JSONPath=`.spec.maxMemory`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RedisCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RedisClusterSpec   `json:"spec"`
	Status RedisClusterStatus `json:"status,omitempty"`
}

// RedisClusterSpec is the wanted shape of a Redis Cluster.
//
// Every node of the cluster needs three host ports: node N serves clients on basePort+N, gossips
// on basePort+N+10000 and exports metrics on basePort+N+20000.
//
// +kubebuilder:validation:XValidation:rule="self.basePort + self.masters * (1 + (has(self.replicas) ? self.replicas : 1)) + 19999 <= 65535",fieldPath=".basePort",message="basePort leaves no room for every node's ports: node N uses basePort+N, basePort+N+10000 (cluster bus) and basePort+N+20000 (exporter), all of which must stay <= 65535"
// +kubebuilder:validation:XValidation:rule="!has(self.maxMasters) || self.basePort + self.maxMasters * (1 + (has(self.replicas) ? self.replicas : 1)) + 19999 <= 65535",fieldPath=".maxMasters",message="maxMasters leaves no room for every node's ports above basePort (node N uses basePort+N+20000, which must stay <= 65535)"
// +kubebuilder:validation:XValidation:rule="!has(self.minMasters) || !has(self.maxMasters) || self.minMasters <= self.maxMasters",fieldPath=".minMasters",message="minMasters must not exceed maxMasters"
// +kubebuilder:validation:XValidation:rule="has(self.restore) == has(oldSelf.restore)",fieldPath=".restore",message="spec.restore is set only when a cluster is created: a restore over a cluster that holds data is refused"
type RedisClusterSpec struct {
	// Image is the Redis server image. A tag may be given here or in tag.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`

	// Tag is appended to image as image:tag when set.
	// +optional
	Tag string `json:"tag,omitempty"`

	// ImagePullPolicy of the Redis and exporter containers.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// ImagePullSecrets for the pods.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// Masters is the number of shards. Redis Cluster needs at least three masters to fail over.
	// +kubebuilder:validation:Minimum=3
	// +kubebuilder:validation:Maximum=500
	Masters int32 `json:"masters"`

	// Replicas is the number of replicas of each master.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=5
	Replicas int32 `json:"replicas"`

	// BasePort is the client port of node 0; node N listens on basePort+N. It cannot change once
	// set: every node listens on it.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=45535
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.basePort is immutable: every node listens on it; create a new cluster to change it"
	BasePort int32 `json:"basePort"`

	// MaxMemory is each node's maxmemory, in Redis notation: 100000, 512mb, 1gb, 2g.
	// +kubebuilder:validation:Pattern=`^[0-9]+([bB]|[kKmMgG][bB]?)?$`
	// +kubebuilder:validation:MaxLength=32
	MaxMemory string `json:"maxMemory"`

	// Resources of the Redis container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// ExporterResources of the exporter sidecar. Kept for manifests written for the original
	// operator; exporter.resources wins when both are set.
	// +optional
	ExporterResources *corev1.ResourceRequirements `json:"exporterResources,omitempty"`

	// Exporter configures the redis_exporter sidecar.
	// +optional
	Exporter *ExporterSpec `json:"exporter,omitempty"`

	// Persistence keeps each node's data and nodes.conf on a PersistentVolumeClaim.
	// +optional
	Persistence *PersistenceSpec `json:"persistence,omitempty"`

	// PasswordSecret names the key of a Secret holding the password Redis requires from clients
	// (requirepass and masterauth).
	// +optional
	PasswordSecret *corev1.SecretKeySelector `json:"passwordSecret,omitempty"`

	// TLS makes every link of the cluster TLS: clients, replicas, the cluster bus and MIGRATE.
	// Added to or removed from a running cluster, every node switches its links live, then its
	// pod is replaced (status.links says which links the nodes run).
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// Users are ACL users every node has besides the operator's (default) and the exporter's
	// (redis-exporter). Each is added, changed and removed live with ACL SETUSER and ACL DELUSER
	// on every node, and kept in the config file nodes start with; users the list does not
	// name are removed from the nodes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Users []UserSpec `json:"users,omitempty"`

	// Backup is where the cluster's backups go, and when scheduled ones are taken.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// Restore fills a new cluster from a backup: each shard's snapshot is put in place before
	// its node starts, the slots are assigned as the backup had them, and a different masters
	// count is then reached by moving slots. Set only when the cluster is created.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.restore is immutable: it fills a new cluster once"
	Restore *RestoreSpec `json:"restore,omitempty"`

	// Config holds extra redis.conf directives passed to every node. Directives the operator
	// manages itself are refused.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z0-9-]+$'))",message="config keys must be plain directive names: lower-case letters, digits and '-'"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['port', 'bind', 'dir', 'daemonize', 'requirepass', 'masterauth', 'masteruser', 'include', 'rename-command', 'appendonly', 'appendfilename', 'appenddirname', 'save', 'maxmemory', 'replicaof', 'slaveof', 'protected-mode', 'logfile', 'pidfile', 'unixsocket', 'aclfile', 'user']) && !k.startsWith('cluster-') && !k.startsWith('tls-'))",message="config must not set a directive the operator manages or relies on (port, bind, dir, daemonize, requirepass, masterauth, masteruser, include, rename-command, appendonly, append*, save, maxmemory, replicaof, protected-mode, logfile, pidfile, unixsocket, aclfile, user, cluster-*, tls-*)"
	Config map[string]ConfigValue `json:"config,omitempty"`

	// ClusterNodeTimeout is cluster-node-timeout in milliseconds: how long a node may be
	// unreachable before it is considered failed.
	// +optional
	// +kubebuilder:default=5000
	// +kubebuilder:validation:Minimum=500
	// +kubebuilder:validation:Maximum=120000
	ClusterNodeTimeout *int32 `json:"clusterNodeTimeout,omitempty"`

	// MinMasters is the lowest masters count autoscaling may scale down to (never below 3).
	// +optional
	// +kubebuilder:validation:Minimum=3
	MinMasters *int32 `json:"minMasters,omitempty"`

	// MaxMasters is the highest masters count autoscaling may scale up to.
	// +optional
	// +kubebuilder:validation:Minimum=3
	// +kubebuilder:validation:Maximum=500
	MaxMasters *int32 `json:"maxMasters,omitempty"`

	// ScaleCooldown is the least time between two autoscaling changes, measured from
	// status.lastScaleTime.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	ScaleCooldown *metav1.Duration `json:"scaleCooldown,omitempty"`

	// SecurityContext of the pods.
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`

	// NodeSelector of the pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the pods. When unset, the operator spreads each master and its replicas over
	// different Kubernetes nodes where it can.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// TopologyKey is the node label whose values are the failure domains the shards spread
	// over: the scheduler is asked to spread the pods over them, and the operator keeps each
	// master away from the domains of the other masters and of its own replicas where it can.
	// kubernetes.io/hostname (one domain per node) when unset; topology.kubernetes.io/zone
	// spreads over zones.
	// +optional
	// +kubebuilder:validation:MaxLength=316
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	TopologyKey string `json:"topologyKey,omitempty"`
}

// TLSSpec is the certificate every node serves and presents.
type TLSSpec struct {
	// SecretName names a Secret in the cluster's namespace holding tls.crt, tls.key and ca.crt,
	// as cert-manager writes them. Every node serves the certificate and presents it to the
	// others (the cluster bus and replication check both ends), so it needs both the server and
	// the client usage. When empty, the operator makes it: a CA of the cluster's own (Secret
	// <name>-tls-ca) and a node certificate it signs (Secret <name>-tls), renewed once a third
	// of its validity is left. A certificate of another CA, a renewal or another Secret named
	// here come in live, by steps every node can take.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// AuthClients is Redis' tls-auth-clients: whether clients must present a certificate the
	// CA signed ("yes", the default), may ("optional") or need not ("no"). Quote the value in
	// YAML: unquoted yes and no are booleans there.
	// +optional
	// +kubebuilder:default="yes"
	// +kubebuilder:validation:Enum=no;optional;yes
	AuthClients string `json:"authClients,omitempty"`
}

// UserSpec is an ACL user of every node.
type UserSpec struct {
	// Name of the user. default and redis-exporter are the operator's.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._:-]*$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['default', 'redis-exporter'])",message="default and redis-exporter are the operator's own users"
	Name string `json:"name"`

	// Rules are the user's ACL rules, one per item, as ACL SETUSER takes them: "~app:*",
	// "+@read", "-flushall", "(~cache:* +get)". The password comes from passwordSecret, so
	// password rules (>, <, #, !, nopass, resetpass) and reset are refused here. The user is on
	// unless a rule says off.
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.all(r, !r.matches('^[><#!]') && !(r.lowerAscii() in ['nopass', 'resetpass', 'reset']))",message="rules must not set the password (>, <, #, !, nopass, resetpass) nor reset the user: the password comes from passwordSecret"
	// +kubebuilder:validation:XValidation:rule="self.all(r, !r.contains(' ') || r.startsWith('('))",message="each rule is one item: only a selector in parentheses holds spaces"
	Rules []string `json:"rules"`

	// PasswordSecret names the key of a Secret holding the user's password. Changing the
	// Secret changes the password on every node; clients logged in stay logged in.
	PasswordSecret corev1.SecretKeySelector `json:"passwordSecret"`
}

// ExporterSpec configures the redis_exporter sidecar of every node.
type ExporterSpec struct {
	// Enabled runs the sidecar; it runs when unset.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Image of the exporter.
	// +optional
	Image string `json:"image,omitempty"`

	// Tag is appended to image as image:tag when set.
	// +optional
	Tag string `json:"tag,omitempty"`

	// Resources of the exporter container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// PersistenceSpec keeps node data on PersistentVolumeClaims, one per node.
type PersistenceSpec struct {
	// Enabled gives every node a PersistentVolumeClaim holding its AOF and nodes.conf.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// StorageClass of the claims; the cluster's default class when empty.
	// +optional
	StorageClass *string `json:"storageClass,omitempty"`

	// Size of each claim.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
}

// RedisClusterList is a list of RedisClusters.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type RedisClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []RedisCluster `json:"items"`
}

// ConfigValue is the value of one redis.conf directive: one line, as redis.conf reads it.
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:Pattern=`^[^\r\n]*$`
type ConfigValue string
