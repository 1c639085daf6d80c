package redisops

// SetBeforeHandOver makes every batch of MoveSlots call f between moving its keys and handing it
// over; the returned func removes f.
func SetBeforeHandOver(f func()) (restore func()) {
	beforeHandOver = f
	return func() { beforeHandOver = nil }
}
