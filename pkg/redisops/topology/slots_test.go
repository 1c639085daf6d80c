package topology

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEvenSplit(t *testing.T) {
	for n := 1; n <= 50; n++ {
		ranges := EvenSplit(n)
		require.Len(t, ranges, n)
		require.Equal(t, 0, ranges[0].Start)
		require.Equal(t, SlotCount-1, ranges[n-1].End)
		for i, r := range ranges {
			require.InDelta(t, float64(SlotCount)/float64(n), float64(r.Len()), 1.0, "n=%d range %d", n, i)
			if i > 0 {
				require.Equal(t, ranges[i-1].End+1, r.Start, "contiguous")
			}
		}
	}
	require.Equal(t, []SlotRange{{0, 5461}, {5462, 10922}, {10923, 16383}}, EvenSplit(3))
}

func TestParseSlotRange(t *testing.T) {
	r, err := ParseSlotRange("0-5460")
	require.NoError(t, err)
	require.Equal(t, SlotRange{0, 5460}, r)
	r, err = ParseSlotRange("42")
	require.NoError(t, err)
	require.Equal(t, 1, r.Len())
	for _, bad := range []string{"", "a", "5-3", "0-16384", "-1", "1-x"} {
		_, err := ParseSlotRange(bad)
		require.Error(t, err, bad)
	}
}

func TestRangesOf(t *testing.T) {
	set := map[int]bool{0: true, 1: true, 2: true, 10: true, 16383: true}
	ranges := RangesOf(func(s int) bool { return set[s] })
	require.Equal(t, []string{"0-2", "10", "16383"}, FormatRanges(ranges))
	require.Equal(t, 5, CountSlots(ranges))
	require.Equal(t, "7", SlotRange{Start: 7, End: 7}.String())
	require.Equal(t, "7-9", SlotRange{Start: 7, End: 9}.String())
}
