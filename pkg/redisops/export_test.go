package redisops

import "time"

// SetBeforeHandOver makes every batch of MoveSlots call f between moving its keys and handing it
// over; the returned func removes f.
func SetBeforeHandOver(f func()) (restore func()) {
	beforeHandOver = f
	return func() { beforeHandOver = nil }
}

// SetReplicaCatchUp changes how long a hand-over waits for the target's replica; the returned
// func restores it.
func SetReplicaCatchUp(d time.Duration) (restore func()) {
	old := replicaCatchUp
	replicaCatchUp = d
	return func() { replicaCatchUp = old }
}
