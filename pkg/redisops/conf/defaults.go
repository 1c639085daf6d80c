package conf

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Defaults are the values a node started from the operator's redis.conf and arguments runs
// for live directives the spec leaves out: a directive removed from spec.config is set back to
// its default on running nodes, so that they run what a node restarted later runs. Directives
// not listed keep their value until a restart.
var Defaults = map[string]string{
	"maxmemory-policy":            "noeviction",
	"maxmemory-samples":           "5",
	"maxmemory-eviction-tenacity": "10",
	"timeout":                     "0",
	"tcp-keepalive":               "300",
	"hz":                          "10",
	"dynamic-hz":                  "yes",
	"slowlog-log-slower-than":     "10000",
	"slowlog-max-len":             "128",
	"latency-monitor-threshold":   "0",
	"notify-keyspace-events":      "",
	"lazyfree-lazy-eviction":      "no",
	"lazyfree-lazy-expire":        "no",
	"lazyfree-lazy-server-del":    "no",
	"lazyfree-lazy-user-del":      "no",
	"lazyfree-lazy-user-flush":    "no",
	"replica-lazy-flush":          "no",
	"activedefrag":                "no",
	"loglevel":                    "notice",
	"repl-backlog-size":           "1048576",
	"repl-backlog-ttl":            "3600",
	"repl-timeout":                "60",
	"min-replicas-to-write":       "0",
	"min-replicas-max-lag":        "10",
	"appendfsync":                 "everysec",
	"no-appendfsync-on-rewrite":   "no",
	"auto-aof-rewrite-percentage": "100",
	"auto-aof-rewrite-min-size":   "67108864",
	"hash-max-listpack-entries":   "512",
	"hash-max-listpack-value":     "64",
	"list-max-listpack-size":      "-2",
	"list-compress-depth":         "0",
	"set-max-intset-entries":      "512",
	"zset-max-listpack-entries":   "128",
	"zset-max-listpack-value":     "64",
	"active-expire-effort":        "1",
	"busy-reply-threshold":        "5000",
	"stream-node-max-bytes":       "4096",
	"stream-node-max-entries":     "100",
	"replica-serve-stale-data":    "yes",
	"replica-read-only":           "yes",
	"replica-priority":            "100",
}

// aliases name, for a directive Redis also knows by an older name, the name Defaults uses: a
// spec setting the old name sets the same value, which its default must not undo.
var aliases = map[string]string{
	"lua-time-limit":           "busy-reply-threshold",
	"hash-max-ziplist-entries": "hash-max-listpack-entries",
	"hash-max-ziplist-value":   "hash-max-listpack-value",
	"list-max-ziplist-size":    "list-max-listpack-size",
	"zset-max-ziplist-entries": "zset-max-listpack-entries",
	"zset-max-ziplist-value":   "zset-max-listpack-value",
	"slave-lazy-flush":         "replica-lazy-flush",
	"slave-serve-stale-data":   "replica-serve-stale-data",
	"slave-read-only":          "replica-read-only",
	"slave-priority":           "replica-priority",
	"min-slaves-to-write":      "min-replicas-to-write",
	"min-slaves-max-lag":       "min-replicas-max-lag",
}

// Wanted is what every running node should read back: settings, and the default of each listed
// directive settings leaves out.
func Wanted(settings map[string]string) map[string]string {
	out := make(map[string]string, len(Defaults)+len(settings))
	for k, v := range Defaults {
		out[k] = v
	}
	for k, v := range settings {
		if name, ok := aliases[k]; ok {
			delete(out, name)
		}
		out[k] = v
	}
	return out
}

// Runs reports whether a node reading back got for directive runs want, as far as it can be
// told: Redis reads some values back in a form of its own (enum values in lower case, the
// keyspace event classes in its order, a multi-word value such as client-output-buffer-limit
// with the classes the setting left out), so a multi-word value is never taken for a drift.
func Runs(directive, want, got string) bool {
	switch {
	case SameValue(want, got) || strings.EqualFold(want, got) || strings.ContainsAny(want, " \t"):
		return true
	case directive == "notify-keyspace-events":
		return eventClasses(want) == eventClasses(got)
	}
	return false
}

// eventClasses are the keyspace event flags of a notify-keyspace-events value, sorted, with
// the A shorthand spelt out.
func eventClasses(v string) string {
	flags := []byte(strings.ReplaceAll(v, "A", "g$lshzxetd"))
	sort.Slice(flags, func(i, j int) bool { return flags[i] < flags[j] })
	return string(slices.Compact(flags))
}

// SameValue reports that Redis reading back got for a directive set to want means it holds
// want: memory amounts compare in bytes (Redis reads back 100mb as 104857600), yes/no ignore
// case, anything else must be the same string.
func SameValue(want, got string) bool {
	if want == got {
		return true
	}
	if isYesNo(want) && isYesNo(got) {
		return strings.EqualFold(want, got)
	}
	w, okW := memoryBytes(want)
	g, okG := memoryBytes(got)
	return okW && okG && w == g
}

func isYesNo(s string) bool { return strings.EqualFold(s, "yes") || strings.EqualFold(s, "no") }

// memoryUnits are Redis's memory suffixes, longest first so that "mb" is not read as "b".
var memoryUnits = []struct {
	suffix string
	factor uint64
}{
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
	{"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1},
}

// memoryBytes reads a memory amount as Redis does: digits with an optional unit, b, k (1000),
// kb (1024), m, mb, g or gb, in any case.
func memoryBytes(s string) (uint64, bool) {
	digits, factor := strings.ToLower(s), uint64(1)
	for _, u := range memoryUnits {
		if strings.HasSuffix(digits, u.suffix) {
			digits, factor = strings.TrimSuffix(digits, u.suffix), u.factor
			break
		}
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n > math.MaxUint64/factor {
		return 0, false
	}
	return n * factor, true
}
