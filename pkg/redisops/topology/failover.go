package topology

// FailoverMode is how a replica takes over from its master.
type FailoverMode string

const (
	// FailoverGraceful holds the writes of a master that answers, waits for the replica to have
	// every one of them, then switches roles with no write lost (redisops' graceful hand-over).
	FailoverGraceful FailoverMode = ""
	// FailoverForce takes over without the master's agreement, still with the other masters'
	// votes: for a master that is gone.
	FailoverForce FailoverMode = "FORCE"
	// FailoverTakeover takes over without any vote.
	FailoverTakeover FailoverMode = "TAKEOVER"
)
