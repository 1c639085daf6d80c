package redisops

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"redis-operator/pkg/redisops/conf"
)

// ConfigResult is what became of each directive SetConfig was given.
type ConfigResult struct {
	// Applied were set and read back as given.
	Applied []string
	// NeedsRestart are directives Redis only takes at startup (immutable or protected ones).
	NeedsRestart []string
	// Refused maps a directive Redis would not set (unknown, bad value) to Redis's message.
	Refused map[string]string
	// Mismatch maps a directive Redis accepted to the different value it reads back.
	Mismatch map[string]string
}

// Ok reports that every directive is live with the value given.
func (r ConfigResult) Ok() bool {
	return len(r.NeedsRestart) == 0 && len(r.Refused) == 0 && len(r.Mismatch) == 0
}

// Redis 7.0 answers CONFIG SET of a directive it takes only at startup with
// "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config",
// or "... - can't set protected config" for one enable-protected-configs guards (dir, dbfilename).
var startupOnly = []string{"can't set immutable config", "can't set protected config"}

// SetConfig sets each of settings on the node at addr with its own CONFIG SET, in directive
// order, and reads every accepted one back with CONFIG GET. Redis's refusals land in the result;
// the error is for a node that cannot be asked (connection, authentication), with the result of
// the directives done before.
func (a *Admin) SetConfig(ctx context.Context, addr string, settings map[string]string) (ConfigResult, error) {
	result := ConfigResult{Refused: map[string]string{}, Mismatch: map[string]string{}}
	directives := make([]string, 0, len(settings))
	for d := range settings {
		directives = append(directives, d)
	}
	sort.Strings(directives)
	c := a.Client(addr)
	for _, d := range directives {
		want := settings[d]
		if err := c.ConfigSet(ctx, d, want).Err(); err != nil {
			msg, isReply := replyError(err)
			switch {
			case !isReply || IsAuthFailure(err):
				return result, fmt.Errorf("CONFIG SET %s on %s: %w", d, addr, err)
			case containsAny(msg, startupOnly):
				result.NeedsRestart = append(result.NeedsRestart, d)
			default:
				result.Refused[d] = msg
			}
			continue
		}
		values, err := c.ConfigGet(ctx, d).Result()
		if err != nil {
			return result, fmt.Errorf("CONFIG GET %s on %s: %w", d, addr, err)
		}
		if got := configValue(values, d); SameConfigValue(want, got) {
			result.Applied = append(result.Applied, d)
		} else {
			result.Mismatch[d] = got
		}
	}
	return result, nil
}

func containsAny(s string, parts []string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// configValue picks directive's value from a CONFIG GET reply, which names it as it was asked
// (an alias stays the alias, MAXMEMORY stays upper case).
func configValue(values map[string]string, directive string) string {
	if v, ok := values[directive]; ok {
		return v
	}
	for k, v := range values {
		if strings.EqualFold(k, directive) {
			return v
		}
	}
	return ""
}

// SameConfigValue reports that Redis reading back got for a directive set to want means it holds
// want (conf.SameValue).
func SameConfigValue(want, got string) bool { return conf.SameValue(want, got) }
