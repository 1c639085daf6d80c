package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SpreadRetryAfter is how long the operator leaves domains alone that did not take a pod it
// replaced to spread shards: each replacement costs a replica a full resync, and what kept the pod
// out (host ports other pods hold, resources, constraints) seldom clears by itself soon.
const SpreadRetryAfter = 10 * time.Minute

// SpreadTry is the last pod the operator replaced to spread the shards, with the empty domains it
// was meant for. The controller remembers it; Decide learns from it where pods cannot go.
type SpreadTry struct {
	Pod    string
	OldUID string
	Toward []string
	At     time.Time
}

// refusedDomains returns the domains a spread replacement was meant for and did not land in, with
// why, while SpreadRetryAfter has not passed since. A replacement not yet scheduled, or one that
// landed where it was meant to, refuses nothing.
func refusedDomains(o *Observation) (map[string]bool, string) {
	try := o.SpreadTry
	if try == nil || o.Now.Sub(try.At) >= SpreadRetryAfter {
		return nil, ""
	}
	var landed string
	for _, pod := range o.Pods {
		if pod.Name == try.Pod && string(pod.UID) != try.OldUID && pod.Spec.NodeName != "" {
			landed = pod.Spec.NodeName
		}
	}
	domain, known := o.Domains[landed]
	if landed == "" || !known || slices.Contains(try.Toward, domain) {
		return nil, ""
	}
	refused := map[string]bool{}
	for _, d := range try.Toward {
		refused[d] = true
	}
	return refused, fmt.Sprintf("pod %s, replaced to spread shards, did not land in %s but on %s (host ports other pods hold, resources or placement constraints there): not tried again before %s",
		try.Pod, strings.Join(try.Toward, ", "), landed, try.At.Add(SpreadRetryAfter).UTC().Format(time.RFC3339))
}
