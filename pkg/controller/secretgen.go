package controller

import (
	"crypto/rand"
	"encoding/hex"
)

// newMonitorPassword is a random password for the exporter's user.
func newMonitorPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
