package redisops

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// authenticate is the OnConnect of addr's pools. They set no Password, so go-redis's HELLO goes
// without AUTH (it lets a NOAUTH answer pass) and the connection arrives here anonymous; it takes
// the first of the Admin's passwords the node accepts. AUTH default <pw>, not legacy AUTH <pw>:
// a node without a password (nopass) accepts the former and errs on the latter.
func (a *Admin) authenticate(addr string) func(ctx context.Context, cn *redis.Conn) error {
	candidates := a.passwords
	if len(candidates) == 0 {
		candidates = []string{""}
	}
	return func(ctx context.Context, cn *redis.Conn) error {
		var refused error
		for _, password := range candidates {
			var err error
			if password == "" {
				// PING is refused with NOAUTH while the connection is anonymous and the node wants a password.
				err = cn.Ping(ctx).Err()
			} else {
				err = cn.AuthACL(ctx, "default", password).Err()
			}
			if err == nil {
				a.remember(addr, password)
				return nil
			}
			if _, ok := replyError(err); !ok {
				return err
			}
			refused = err
		}
		// The last refusal as it is: go-redis unwraps an OnConnect error once before returning it.
		return refused
	}
}

func (a *Admin) remember(addr, password string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accepted[addr] = password
}

// passwordFor is the password the node at addr last accepted from this Admin, connecting to it
// first when it never has; MIGRATE sends it to that node as the target.
func (a *Admin) passwordFor(ctx context.Context, addr string) string {
	a.mu.Lock()
	password, ok := a.accepted[addr]
	a.mu.Unlock()
	if ok {
		return password
	}
	if err := a.Client(addr).Ping(ctx).Err(); err == nil {
		a.mu.Lock()
		password = a.accepted[addr]
		a.mu.Unlock()
		return password
	}
	if len(a.passwords) > 0 {
		return a.passwords[0]
	}
	return ""
}

// takesOlderPassword reports whether the node at addr, which took one of the Admin's passwords,
// refuses the newest: while older ones are held, a connection that logged in with one of them is
// asked to log in with the newest. A refused AUTH leaves the connection logged in as it was.
func (a *Admin) takesOlderPassword(ctx context.Context, addr string) bool {
	if len(a.passwords) < 2 || a.passwords[0] == "" {
		return false
	}
	a.mu.Lock()
	accepted, ok := a.accepted[addr]
	a.mu.Unlock()
	if ok && accepted == a.passwords[0] {
		return false
	}
	err := a.Client(addr).Do(ctx, "AUTH", "default", a.passwords[0]).Err()
	if err == nil {
		a.remember(addr, a.passwords[0])
		return false
	}
	return IsAuthFailure(err)
}

// IsAuthFailure reports that a node refused the connection's credentials or wants some: no
// password of the Admin is one the node accepts.
func IsAuthFailure(err error) bool {
	return replyCode(err, "WRONGPASS") || replyCode(err, "NOAUTH")
}

// AddPassword makes the node at addr accept password besides the passwords it accepts now
// (ACL SETUSER default on >password). A node that had no password stops accepting clients
// without one, since a password clears the default user's nopass; connections already open stay
// authenticated. CONFIG GET requirepass keeps showing the former password.
func (a *Admin) AddPassword(ctx context.Context, addr, password string) error {
	if password == "" {
		return errors.New("AddPassword of an empty password: use SetPassword(\"\") to remove passwords")
	}
	if err := a.Client(addr).Do(ctx, "ACL", "SETUSER", "default", "on", ">"+password).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER default >*** on %s: %w", addr, err)
	}
	a.remember(addr, password)
	return nil
}

// SetPassword makes the node at addr accept exactly password from now on, and no password at all
// when it is "". CONFIG SET requirepass alone is not enough: Redis 7.0 skips a CONFIG SET to the
// current value, so a password added by AddPassword would stay; ACL SETUSER then makes it exact.
// Connections already open stay authenticated.
func (a *Admin) SetPassword(ctx context.Context, addr, password string) error {
	c := a.Client(addr)
	if err := c.ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		return fmt.Errorf("CONFIG SET requirepass on %s: %w", addr, err)
	}
	rule := []interface{}{"ACL", "SETUSER", "default", "on", "nopass"}
	if password != "" {
		rule = []interface{}{"ACL", "SETUSER", "default", "on", "resetpass", ">" + password}
	}
	if err := c.Do(ctx, rule...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER default on %s: %w", addr, err)
	}
	a.remember(addr, password)
	return nil
}

// SetMasterAuth sets the password the node at addr gives its master when its replication link
// (re)connects; "" gives none. An established link is not affected. It also names the default
// user as masteruser, so that the replica sends AUTH default <password>, which a master without a
// password accepts, where the legacy AUTH <password> errs: a replica keeps linking while masters
// get their first password or lose their last, whichever of it and its master changes first.
func (a *Admin) SetMasterAuth(ctx context.Context, addr, password string) error {
	if err := a.Client(addr).Do(ctx, "CONFIG", "SET", "masteruser", "default", "masterauth", password).Err(); err != nil {
		return fmt.Errorf("CONFIG SET masterauth on %s: %w", addr, err)
	}
	return nil
}

// SetUser makes user on the node at addr exactly what rules say (ACL SETUSER user reset rules...).
func (a *Admin) SetUser(ctx context.Context, addr, user string, rules []string) error {
	args := []interface{}{"ACL", "SETUSER", user, "reset"}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := a.Client(addr).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER %s on %s: %w", user, addr, err)
	}
	return nil
}
