package controller

import (
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
)

func TestSummarizeRepairs(t *testing.T) {
	var repairs []redisops.Repair
	for s := 100; s < 164; s++ {
		repairs = append(repairs, redisops.Repair{Slot: s, Owner: "10.0.0.2:10004", Keys: 2})
	}
	repairs = append(repairs,
		redisops.Repair{Slot: 7, Finished: true, Owner: "10.0.0.3:10006", Keys: 5},
		redisops.Repair{Slot: 300, Owner: "10.0.0.1:10000", LostWith: "0123456789abcdef"})
	require.Equal(t, []string{
		"rolled slots 100-163 back to their owner 10.0.0.2:10004 (128 keys returned)",
		"finished moving slots 7 to 10.0.0.3:10006 (5 keys)",
		"rolled slots 300 back to their owner 10.0.0.1:10000 (0 keys returned); keys they had sent to node 01234567 are lost with it",
	}, summarizeRepairs(repairs))
}
