package topology

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeysReadsDB0OfTheKeyspace(t *testing.T) {
	require.EqualValues(t, -1, (&NodeState{}).Keys(), "not read")
	require.EqualValues(t, 0, (&NodeState{Keyspace: ParseInfo("# Keyspace\r\n")}).Keys(), "no db0 line: empty")
	require.EqualValues(t, 200000, (&NodeState{Keyspace: ParseInfo("# Keyspace\r\ndb0:keys=200000,expires=3,avg_ttl=0\r\n")}).Keys())
	require.EqualValues(t, -1, (&NodeState{Keyspace: ParseInfo("db0:keys=x,expires=0\r\n")}).Keys())
}
