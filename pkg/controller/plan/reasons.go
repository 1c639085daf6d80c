package plan

// Reasons of the Events the controller records and of the conditions it sets, in one place.

// Event reasons for Kubernetes objects.
const (
	ReasonCreatedPod     = "CreatedPod"
	ReasonCreatedClaim   = "CreatedClaim"
	ReasonCreatedService = "CreatedService"
	ReasonRemovedNode    = "RemovedNode"
	ReasonReplacedPod    = "ReplacedPod"
	// ReasonKeptPod: a planned replacement found the node owning slots again.
	ReasonKeptPod = "KeptPod"
	// ReasonDeletedClaim: a claim left unused while persistence is off is deleted.
	ReasonDeletedClaim  = "DeletedClaim"
	ReasonConfigSecret  = "ConfigSecret"
	ReasonExpandedClaim = "ExpandedClaim"
	// ReasonClaimNotExpanded: the API server refused a larger claim (its class does not expand);
	// also a Ready reason.
	ReasonClaimNotExpanded = "ClaimNotExpanded"
)

// Reasons of TLS: a Secret holding a certificate the nodes could not use (also a Degraded
// reason); a node serving its Secret's renewed certificate.
const (
	ReasonTLSSecretRefused    = "TLSSecretRefused"
	ReasonReloadedCertificate = "ReloadedCertificate"
)

// ReasonUserSecretHeld: an ACL user's password Secret cannot be read; the user stays as the
// nodes have it (also a Degraded reason).
const ReasonUserSecretHeld = "UserSecretHeld"

// Event reasons for live settings; ConfigRefused is also a Ready reason.
const (
	ReasonSettingsApplied = "SettingsApplied"
	ReasonConfigRefused   = "ConfigRefused"
)

// Event reasons for Redis actions.
const (
	ReasonMetNode          = "MetNode"
	ReasonAssignedSlots    = "AssignedSlots"
	ReasonSlotsLost        = "SlotsLost"
	ReasonAttachedReplica  = "AttachedReplica"
	ReasonForgotNode       = "ForgotNode"
	ReasonRepairedSlot     = "RepairedSlot"
	ReasonRedisError       = "RedisError"
	ReasonForcedFailover   = "ForcedFailover"
	ReasonHandedOverMaster = "HandedOverMaster"
	ReasonMigratedSlots    = "MigratedSlots"
)

// Condition reasons; PortConflict and SlotsLost are also Event reasons.
const (
	ReasonProvisioning = "Provisioning"
	// ReasonRestoring: the nodes load a backup; nothing touches them until each holds its shard.
	ReasonRestoring       = "Restoring"
	ReasonPortConflict    = "PortConflict"
	ReasonClusterHealthy  = "ClusterHealthy"
	ReasonReconciling     = "Reconciling"
	ReasonNodesDown       = "NodesDown"
	ReasonReplicasMissing = "ReplicasMissing"
	ReasonFullyRedundant  = "FullyRedundant"
	ReasonNotScaling      = "NotScaling"
	ReasonMigratingSlots  = "MigratingSlots"
	ReasonScaling         = "Scaling"
	// ReasonNotEnoughMemory: slots do not move, the masters receiving them would exceed maxmemory.
	ReasonNotEnoughMemory = "NotEnoughMemory"
	// Updating: ReasonRollingUpdate while pods built from an older spec are replaced.
	ReasonRollingUpdate = "RollingUpdate"
	// ReasonSwitchingLinks: spec.tls asks for other links than the nodes run (also the Event of
	// the switch).
	ReasonSwitchingLinks = "SwitchingLinks"
	// ReasonRotatingCertificate: some TLS node serves another certificate than its Secret's.
	ReasonRotatingCertificate = "RotatingCertificate"
	ReasonUpToDate            = "UpToDate"
)
