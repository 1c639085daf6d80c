// Package conf renders what a Redis node starts with: the redis.conf text the operator keeps in
// each cluster's config Secret, the server's command-line arguments, and the ACL rules of the
// exporter's user. It knows nothing of Kubernetes and opens no connection.
package conf

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
)

// Directives the operator sets from the spec besides the user's config.
const (
	MaxMemory   = "maxmemory"
	NodeTimeout = "cluster-node-timeout"
)

// LiveSettings are the directives a running node takes with CONFIG SET: maxmemory, the node
// timeout and the user's own.
func LiveSettings(maxMemory string, nodeTimeoutMillis int64, user map[string]string) map[string]string {
	out := map[string]string{MaxMemory: maxMemory, NodeTimeout: strconv.FormatInt(nodeTimeoutMillis, 10)}
	for k, v := range user {
		out[k] = v
	}
	return out
}

// File is the redis.conf text of settings and password, sorted, each value quoted as one
// argument (Redis splits a multi-word value such as client-output-buffer-limit's itself), with
// the exporter's user when monitorPassword is set, and the users.
func File(settings map[string]string, password, monitorPassword string, users []User) string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + " " + quote(settings[k]) + "\n")
	}
	if password != "" {
		// Replicas authenticate to their master with the password every node takes.
		b.WriteString("requirepass " + quote(password) + "\n")
		b.WriteString("masterauth " + quote(password) + "\n")
	}
	if monitorPassword != "" {
		b.WriteString("user " + MonitorUser + " " + strings.Join(MonitorRules(monitorPassword), " ") + "\n")
	}
	for _, u := range users {
		// reset first, as ACL SETUSER gets it, so that a node started from the file lists the
		// user as one given it live (reset sets sanitize-payload, for one).
		b.WriteString("user " + u.Name + " reset")
		for _, r := range u.ACLRules() {
			if strings.ContainsAny(r, " \"'\\") {
				r = quote(r)
			}
			b.WriteString(" " + r)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// quote quotes a value the way redis.conf reads a double-quoted argument.
func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// MonitorUser is the ACL user a metrics exporter logs in as. It has a password of its own, which
// never changes with the default user's, so an exporter keeps scraping through a password change.
const MonitorUser = "redis-exporter"

// monitorPermissions let MonitorUser read what redis_exporter reads (INFO, CONFIG GET, CLUSTER
// INFO, SLOWLOG, LATENCY) and no key.
var monitorPermissions = []string{
	"-@all", "+@connection", "+info", "+config|get", "+cluster|info", "+slowlog|get", "+slowlog|len",
	"+latency|latest", "+latency|histogram",
}

// MonitorRules are MonitorUser's ACL rules with password, given by its SHA-256 so that no
// listing shows it: what a redis.conf `user` line and ACL SETUSER take alike.
func MonitorRules(password string) []string {
	return append([]string{"on", "#" + PasswordSHA256(password)}, monitorPermissions...)
}

// MonitorRulesVersion changes whenever the rules MonitorRules gives change, whatever the password.
func MonitorRulesVersion() string { return strings.Join(monitorPermissions, " ") }

// User is an ACL user of the spec with its password given by its SHA-256, so that neither the
// config file nor any listing shows the password.
type User struct {
	Name           string   `json:"name"`
	Rules          []string `json:"rules"`
	PasswordSHA256 string   `json:"passwordSHA256"`
}

// PasswordSHA256 is the hex SHA-256 of password, as an ACL "#" rule takes it.
func PasswordSHA256(password string) string {
	sum := sha256.Sum256([]byte(password))
	return hex.EncodeToString(sum[:])
}

// ACLRules are u's rules as a redis.conf user line and ACL SETUSER after reset take them: on,
// its password, then the spec's rules (an "off" among them wins).
func (u User) ACLRules() []string {
	return append([]string{"on", "#" + u.PasswordSHA256}, u.Rules...)
}
