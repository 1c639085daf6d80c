package redisops

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// replyError is the text of the error reply Redis sent, when err carries one; network errors,
// timeouts and the like carry none.
func replyError(err error) (string, bool) {
	var re redis.Error
	if err == nil || !errors.As(err, &re) {
		return "", false
	}
	return re.Error(), true
}

func replyHas(err error, text string) bool {
	msg, ok := replyError(err)
	return ok && strings.Contains(msg, text)
}

func replyCode(err error, code string) bool {
	msg, ok := replyError(err)
	return ok && strings.HasPrefix(msg, code+" ")
}

// IsUnknownNode reports that the node does not know the node id it was given (CLUSTER FORGET,
// SETSLOT NODE or REPLICATE of an id it has not met or already forgot).
func IsUnknownNode(err error) bool { return replyHas(err, "Unknown node") }

// IsNotMaster reports that a command for masters went to a replica (SETSLOT on a node that
// turned replica, as an emptied master can).
func IsNotMaster(err error) bool { return replyHas(err, "only with masters") }

// IsBusyKey reports a RESTORE without REPLACE refused because the node has the key, or a MIGRATE
// refused because its target said so.
func IsBusyKey(err error) bool { return replyHas(err, "BUSYKEY ") }

// IsClusterDown reports a node refusing a command because it counts the cluster down.
func IsClusterDown(err error) bool { return replyCode(err, "CLUSTERDOWN") }

// IsOOM reports a write refused because the node is at its maxmemory (with a noeviction
// policy), also when a MIGRATE's target refused it.
func IsOOM(err error) bool { return replyHas(err, "OOM ") }
