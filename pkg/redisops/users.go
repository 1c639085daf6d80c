package redisops

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// SetUsers makes the ACL users of the node at addr exactly users (name to rules, each applied
// after reset), deleting every other user but default and keep, and returns the node's ACL
// LIST without the default user's line, to record what the node then runs. One ACL SETUSER or
// DELUSER per user, never ACL LOAD, which disconnects every client of every user.
func (a *Admin) SetUsers(ctx context.Context, addr string, users map[string][]string, keep ...string) ([]string, error) {
	client := a.Client(addr)
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := a.SetUser(ctx, addr, name, users[name]); err != nil {
			return nil, err
		}
	}
	present, err := client.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return nil, fmt.Errorf("ACL USERS on %s: %w", addr, err)
	}
	for _, name := range present {
		if _, wanted := users[name]; wanted || name == "default" || slices.Contains(keep, name) {
			continue
		}
		if err := client.Do(ctx, "ACL", "DELUSER", name).Err(); err != nil {
			return nil, fmt.Errorf("ACL DELUSER %s on %s: %w", name, addr, err)
		}
	}
	listing, err := client.Do(ctx, "ACL", "LIST").StringSlice()
	if err != nil {
		return nil, fmt.Errorf("ACL LIST on %s: %w", addr, err)
	}
	return withoutDefaultUser(listing), nil
}

// withoutDefaultUser drops the default user's line from an ACL LIST: its passwords change with
// every password step, which the users' record must not follow.
func withoutDefaultUser(listing []string) []string {
	return slices.DeleteFunc(listing, func(line string) bool { return strings.HasPrefix(line, "user default ") })
}

// IsRefused reports an error reply: Redis refused the command (an unknown ACL rule, say), as
// opposed to a network error or a timeout.
func IsRefused(err error) bool {
	_, ok := replyError(err)
	return ok
}
