package backup

import (
	"errors"
	"fmt"
	"strings"
)

// ErrConnectionLost means the connection to the node ended, failed or went silent before the
// RDB was complete: the same shard can be streamed again, from this node or another.
var ErrConnectionLost = errors.New("connection to the node lost")

// ErrCorruptRDB means the bytes the node sent, or an object read back, are not a whole, valid RDB.
var ErrCorruptRDB = errors.New("corrupt RDB")

// ErrUnsupported means the node cannot stream an RDB this way (Redis older than 7.0).
var ErrUnsupported = errors.New("node does not support RDB-only replication")

// ErrTLS means the TLS handshake failed on certificates or protocol, not on the connection: a
// plain port, an untrusted certificate, a client certificate the node refused.
var ErrTLS = errors.New("TLS handshake failed")

// ErrDataDirNotEmpty means a restore was refused because the node's directory already holds data.
var ErrDataDirNotEmpty = errors.New("data directory already holds data")

// ErrChecksumMismatch means an object's SHA-256 is not the one its manifest records.
var ErrChecksumMismatch = errors.New("SHA-256 mismatch")

// ReplyError is an error reply of the node to a command of the handshake.
type ReplyError struct {
	Addr    string
	Command string
	// Message is the reply without its leading '-', e.g. "WRONGPASS invalid username-password pair".
	Message string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s on %s: %s", e.Command, e.Addr, e.Message)
}

// Code is the reply's first word, e.g. WRONGPASS, NOAUTH, ERR.
func (e *ReplyError) Code() string {
	code, _, _ := strings.Cut(e.Message, " ")
	return code
}

// IsAuthError reports that the node refused the credentials or wants some.
func IsAuthError(err error) bool {
	var re *ReplyError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code() {
	case "WRONGPASS", "NOAUTH", "NOPERM":
		return true
	}
	// Legacy AUTH on a node without a password.
	return strings.Contains(re.Message, "without any password configured")
}

// IsRetryable reports that the stream failed for a reason of the moment: the connection broke, or
// the node could not serve a sync just then (a replica without its master link, a node loading,
// a fork that failed). Another try, on this node or another of the shard, may succeed.
func IsRetryable(err error) bool {
	if errors.Is(err, ErrConnectionLost) {
		return true
	}
	var re *ReplyError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code() {
	case "NOMASTERLINK", "LOADING", "MASTERDOWN", "BUSY":
		return true
	}
	return strings.Contains(re.Message, "BGSAVE failed") || strings.Contains(re.Message, "pending output")
}
