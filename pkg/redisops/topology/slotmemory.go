package topology

import "sort"

// What a key costs beyond its MEMORY USAGE, which counts the key, its value and its keyspace
// entry but not the entry's slot links (cluster mode, 16 bytes) nor the keyspace's bucket array
// (one pointer per bucket, 1 to 2 buckets a key); a key with a time to live also has an entry
// in the expires table. Measured on Redis 7.0: 28 bytes a key beyond MEMORY USAGE, 68 with a
// time to live.
const (
	KeyTableBytes    = 32
	ExpiryEntryBytes = 40
)

// SampledKeyBytes is the memory a key whose MEMORY USAGE is usage takes.
func SampledKeyBytes(usage int64, expires bool) int64 {
	if expires {
		return usage + KeyTableBytes + ExpiryEntryBytes
	}
	return usage + KeyTableBytes
}

// SlotMemory estimates the memory the keys of some slots take on the node holding them: a
// slot's key count (CLUSTER COUNTKEYSINSLOT) times the mean size (SampledKeyBytes) of keys
// sampled from it when it is among the fullest, else of one key sampled from each of a spread
// of the other slots: the fullest weigh most, and the spread stands for the typical slot
// without the fullest skewing it.
type SlotMemory struct {
	// Bytes is the estimate of each slot counted, 0 for an empty one.
	Bytes map[int]int64
	// Keys is how many keys the counted slots hold; Sampled how many of them were sized.
	Keys    int64
	Sampled int
}

// Add merges other, an estimate of other slots, into m.
func (m *SlotMemory) Add(other SlotMemory) {
	if m.Bytes == nil {
		m.Bytes = make(map[int]int64, len(other.Bytes))
	}
	for slot, b := range other.Bytes {
		m.Bytes[slot] = b
	}
	m.Keys += other.Keys
	m.Sampled += other.Sampled
}

// SlotsToSample picks, among the slots of counts that hold keys, at most fullest slots with the
// most keys (ties to the lower slot) and, of the others, at most spread slots evenly apart.
func SlotsToSample(counts map[int]int64, fullest, spread int) (full, others []int) {
	var slots []int
	for slot, n := range counts {
		if n > 0 {
			slots = append(slots, slot)
		}
	}
	sort.Slice(slots, func(i, j int) bool {
		if counts[slots[i]] != counts[slots[j]] {
			return counts[slots[i]] > counts[slots[j]]
		}
		return slots[i] < slots[j]
	})
	full = slots[:min(fullest, len(slots))]
	rest := append([]int(nil), slots[len(full):]...)
	sort.Ints(rest)
	if len(rest) <= spread {
		return full, rest
	}
	for i := range spread {
		others = append(others, rest[i*len(rest)/spread])
	}
	return full, others
}

// EstimateSlotMemory makes the estimate of the slots of counts (their key counts) from the
// sizes (SampledKeyBytes) of keys sampled from the fullest slots, by slot, and from a spread of
// the others.
func EstimateSlotMemory(counts map[int]int64, full map[int][]int64, spread []int64) SlotMemory {
	est := SlotMemory{Bytes: make(map[int]int64, len(counts)), Sampled: len(spread)}
	var fullSizes []int64
	for _, sizes := range full {
		fullSizes = append(fullSizes, sizes...)
		est.Sampled += len(sizes)
	}
	typical := mean(spread)
	if len(spread) == 0 {
		typical = mean(fullSizes)
	}
	for slot, keys := range counts {
		est.Keys += keys
		perKey := typical
		if sizes := full[slot]; len(sizes) > 0 {
			perKey = mean(sizes)
		}
		est.Bytes[slot] = int64(float64(keys) * perKey)
	}
	return est
}

func mean(sizes []int64) float64 {
	if len(sizes) == 0 {
		return 0
	}
	var sum int64
	for _, s := range sizes {
		sum += s
	}
	return float64(sum) / float64(len(sizes))
}
