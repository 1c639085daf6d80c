// Package redisops operates Redis Clusters over the Redis protocol: reading every node's view,
// forming a cluster, assigning and moving slots. It knows nothing of Kubernetes.
package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// SlotRange is the slots Start..End, both included.
type SlotRange struct {
	Start, End int
}

// Len is the number of slots in the range.
func (r SlotRange) Len() int { return r.End - r.Start + 1 }

func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// ParseSlotRange parses "5" or "0-5460".
func ParseSlotRange(s string) (SlotRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	start, err := strconv.Atoi(lo)
	if err != nil {
		return SlotRange{}, fmt.Errorf("slot range %q: %w", s, err)
	}
	end := start
	if isRange {
		if end, err = strconv.Atoi(hi); err != nil {
			return SlotRange{}, fmt.Errorf("slot range %q: %w", s, err)
		}
	}
	if start < 0 || end >= SlotCount || start > end {
		return SlotRange{}, fmt.Errorf("slot range %q is outside 0-%d", s, SlotCount-1)
	}
	return SlotRange{Start: start, End: end}, nil
}

// CountSlots is the number of slots in ranges.
func CountSlots(ranges []SlotRange) int {
	n := 0
	for _, r := range ranges {
		n += r.Len()
	}
	return n
}

// FormatRanges renders ranges as "0-5460,10923".
func FormatRanges(ranges []SlotRange) []string {
	out := make([]string, len(ranges))
	for i, r := range ranges {
		out[i] = r.String()
	}
	return out
}

// RangesOf turns the slots for which owned reports true into sorted, merged ranges.
func RangesOf(owned func(slot int) bool) []SlotRange {
	var out []SlotRange
	for slot := 0; slot < SlotCount; slot++ {
		if !owned(slot) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End == slot-1 {
			out[n-1].End = slot
			continue
		}
		out = append(out, SlotRange{Start: slot, End: slot})
	}
	return out
}

// SlotList formats slots as merged ranges, such as "0-63,100".
func SlotList(slots []int) string {
	set := make(map[int]bool, len(slots))
	for _, s := range slots {
		set[s] = true
	}
	return strings.Join(FormatRanges(RangesOf(func(s int) bool { return set[s] })), ",")
}

// EvenSplit divides all slots into n contiguous ranges whose sizes differ by at most one.
func EvenSplit(n int) []SlotRange {
	if n <= 0 {
		return nil
	}
	out := make([]SlotRange, n)
	start := 0
	for i := 0; i < n; i++ {
		size := SlotCount / n
		if i < SlotCount%n {
			size++
		}
		out[i] = SlotRange{Start: start, End: start + size - 1}
		start += size
	}
	return out
}

// KeySlot is the hash slot of key: CRC16 (XMODEM) of the key, or of the first non-empty
// {hashtag} in it, modulo 16384.
func KeySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if close := strings.IndexByte(key[open+1:], '}'); close > 0 {
			key = key[open+1 : open+1+close]
		}
	}
	return int(crc16(key) % SlotCount)
}

func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// SplitRanges divides the slots of ranges into n parts of near-equal size, in order.
func SplitRanges(ranges []SlotRange, n int) [][]SlotRange {
	total := CountSlots(ranges)
	out := make([][]SlotRange, n)
	part, taken := 0, 0
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			for part < n-1 && taken >= (part+1)*total/n {
				part++
			}
			if k := len(out[part]); k > 0 && out[part][k-1].End == s-1 {
				out[part][k-1].End = s
			} else {
				out[part] = append(out[part], SlotRange{Start: s, End: s})
			}
			taken++
		}
	}
	return out
}
