package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
)

// usersOf are rc's ACL users with their passwords' SHA-256 from their Secrets. A user whose
// Secret cannot be read stays as the config Secret holds it (or is not added yet): held says
// which, so that a Secret deleted by mistake never locks its clients out.
func (c *Controller) usersOf(rc *redisv1beta1.RedisCluster, config *corev1.Secret) (users []conf.User, held string) {
	before := objects.Users(config)
	var missing []string
	for _, u := range rc.Spec.Users {
		password, err := c.secretKey(rc.Namespace, u.PasswordSecret)
		if err == nil {
			users = append(users, conf.User{Name: u.Name, Rules: u.Rules, PasswordSHA256: conf.PasswordSHA256(password)})
			continue
		}
		kept := "not added yet"
		if i := slices.IndexFunc(before, func(b conf.User) bool { return b.Name == u.Name }); i >= 0 {
			users = append(users, before[i])
			kept = "kept as the nodes have it"
		}
		missing = append(missing, fmt.Sprintf("user %s: %v (%s)", u.Name, err, kept))
	}
	return users, strings.Join(missing, "; ")
}

// secretKey is the value of a Secret's key in namespace.
func (c *Controller) secretKey(namespace string, ref corev1.SecretKeySelector) (string, error) {
	secret, err := c.secrets.Secrets(namespace).Get(ref.Name)
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", ref.Name, err)
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
	}
	return string(value), nil
}

// probeUsers sets the users that change on one answering node before the config Secret holds
// them: a rule Redis refuses must never reach the file nodes read at start, where it would keep
// them from starting. ACL SETUSER applies all of a user's rules or none.
func (c *Controller) probeUsers(ctx context.Context, redis redisops.Cluster, o *plan.Observation, want *corev1.Secret) error {
	addr := plan.FirstAnswering(o)
	if addr == "" {
		return nil
	}
	before := objects.Users(o.ConfigSecret)
	for _, u := range objects.Users(want) {
		if slices.ContainsFunc(before, func(b conf.User) bool { return b.Name == u.Name && slices.Equal(b.Rules, u.Rules) }) {
			continue
		}
		if err := redis.SetUser(ctx, addr, u.Name, u.ACLRules()); redisops.IsRefused(err) {
			return &refusedSettings{fmt.Sprintf("the rules of user %s (%v)", u.Name, err)}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// setUsers makes the node's ACL users those of a, and returns the annotation recording what
// the node then lists.
func setUsers(ctx context.Context, redis redisops.Cluster, a plan.ApplySettings) (string, error) {
	users := make(map[string][]string, len(a.Users))
	for _, u := range a.Users {
		users[u.Name] = u.ACLRules()
	}
	listing, err := redis.SetUsers(ctx, a.Node.Addr(), users, conf.MonitorUser)
	if err != nil {
		return "", err
	}
	return objects.ACLHash(listing), nil
}
