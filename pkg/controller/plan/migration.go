package plan

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/redisops/topology"
)

// maxInterruptions bounds the record of what interrupted one migration (the first entry and the
// latest are kept); noteLength bounds one entry.
const (
	maxInterruptions = 10
	noteLength       = 300
)

// AppendNotes adds notes to a migration's interruptions within the bounds.
func AppendNotes(interruptions, notes []string) []string {
	out := append([]string(nil), interruptions...)
	for _, n := range notes {
		if len(n) > noteLength {
			n = n[:noteLength] + "..."
		}
		out = append(out, n)
	}
	if extra := len(out) - maxInterruptions; extra > 0 {
		// The first entry says what broke the migration; keep it and the latest.
		out = append(out[:1], out[1+extra:]...)
	}
	return out
}

// WithSlots adds slots to ranges, as ranges.
func WithSlots(ranges []string, slots []int) []string {
	if len(slots) == 0 {
		return ranges
	}
	set := map[int]bool{}
	for _, s := range slots {
		set[s] = true
	}
	for _, text := range ranges {
		if r, err := topology.ParseSlotRange(text); err == nil {
			for s := r.Start; s <= r.End; s++ {
				set[s] = true
			}
		}
	}
	return topology.FormatRanges(topology.RangesOf(func(slot int) bool { return set[slot] }))
}

// MigrationProgress is what the cluster's migration task tells one sync.
type MigrationProgress struct {
	Running bool
	// Record is the migration's status as the task keeps it.
	Record *redisv1beta1.MigrationStatus
	// Nodes are the ids of the masters it moves slots between.
	Nodes map[string]bool
}

// Outcome is what acting on a decision did that the status reports.
type Outcome struct {
	// ConfigRefused says which settings Redis refused, so the config Secret kept the former.
	ConfigRefused string
	// ClaimsNotExpanded says which claims the API server refused to grow to the spec's size.
	ClaimsNotExpanded string
	// SlotsGivenEmpty are the ranges given empty to a new owner; LostKeys every slot whose keys
	// were lost, those included.
	SlotsGivenEmpty []string
	LostKeys        []int
	// Notes say what repairs were made and what failed, for the migration's record.
	Notes []string
	// Links is status.links after every node switched its links, "" without a switch.
	Links string
}

// Report adds out to status. It returns the same change for the running migration's own
// record, or nil when the record does not change.
func Report(status *redisv1beta1.RedisClusterStatus, generation int64, out Outcome, now time.Time) func(*redisv1beta1.MigrationStatus) {
	if out.ConfigRefused != "" {
		SetCondition(status, generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonConfigRefused, out.ConfigRefused)
	}
	if out.ClaimsNotExpanded != "" {
		reportClaimsNotExpanded(status, generation, out.ClaimsNotExpanded)
	}
	if out.Links != "" {
		status.Links = out.Links
		SetCondition(status, generation, redisv1beta1.ConditionUpdating, metav1.ConditionTrue, ReasonSwitchingLinks,
			"every node switched its links to "+out.Links+" live; the pods of "+out.Links+" links replace the others")
	}
	if len(out.SlotsGivenEmpty) > 0 {
		SetDegraded(status, generation, ReasonSlotsLost, nil, out.SlotsGivenEmpty, now)
	}
	if (len(out.Notes) == 0 && len(out.LostKeys) == 0) || status.Migration == nil {
		return nil
	}
	record := func(m *redisv1beta1.MigrationStatus) {
		m.Interruptions = AppendNotes(m.Interruptions, out.Notes)
		m.LostSlots = WithSlots(m.LostSlots, out.LostKeys)
	}
	status.Migration = status.Migration.DeepCopy()
	record(status.Migration)
	return record
}

// reportClaimsNotExpanded makes Ready false for claims smaller than the spec: a Ready cluster
// says that alone; one not Ready for another reason keeps its reason and adds it.
func reportClaimsNotExpanded(status *redisv1beta1.RedisClusterStatus, generation int64, refused string) {
	ready := meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionReady)
	if ready == nil || ready.Status == metav1.ConditionTrue {
		SetCondition(status, generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ReasonClaimNotExpanded, refused)
		return
	}
	SetCondition(status, generation, redisv1beta1.ConditionReady, metav1.ConditionFalse, ready.Reason,
		BoundText(ready.Message+"; "+refused, MaxConditionMessage))
}
