package main

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// reference is where an image is pushed: host[:port]/name[:tag].
type reference struct {
	host string // host[:port], as the URL's authority
	repo string // the repository name, path components joined by /
	tag  string // empty when the reference names none
}

func (r reference) String() string {
	if r.tag == "" {
		return r.host + "/" + r.repo
	}
	return r.host + "/" + r.repo + ":" + r.tag
}

// The grammar of the distribution spec's names and tags.
var (
	repoPattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// parseReference reads host[:port]/name[:tag]. The host is required: a push never guesses a
// registry. As in Docker's rule, the first component is a host when it holds a dot or a colon
// or is localhost.
func parseReference(s string) (reference, error) {
	bad := func(why string) (reference, error) {
		return reference{}, fmt.Errorf("image %q: %s; want host[:port]/name[:tag], for example registry.example/redis-operator:TAG", s, why)
	}
	if strings.Contains(s, "@") {
		return bad("a push takes a tag, not a digest")
	}
	host, rest, ok := strings.Cut(s, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return bad("it does not start with the registry host")
	}
	var r reference
	r.host, r.repo = host, rest
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		r.repo, r.tag = rest[:i], rest[i+1:]
		if !tagPattern.MatchString(r.tag) {
			return bad(fmt.Sprintf("tag %q is not a valid tag", r.tag))
		}
	}
	if !repoPattern.MatchString(r.repo) {
		return bad(fmt.Sprintf("name %q is not a valid repository name (lower case, digits and . _ - separators)", r.repo))
	}
	return r, nil
}

// isLoopback tells whether host[:port] is this machine: localhost, 127.0.0.0/8 or ::1.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
