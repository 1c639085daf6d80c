package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// authenticator answers a registry's 401 challenges and authorizes every later request the
// same way: HTTP basic with the given credentials, or the bearer token flow of the
// distribution spec (the token endpoint is asked with the credentials when there are any,
// anonymously otherwise).
type authenticator struct {
	client             *http.Client
	username, password string
	// repo is the repository pushed to; its pull and push scope is asked along with the
	// challenge's own, so that the first token serves every step.
	repo string
	// plainHTTPAllowed tells whether credentials may go to host over plain http.
	plainHTTPAllowed func(host string) bool
	// header is the Authorization every request carries once a challenge was answered.
	header string
}

func (a *authenticator) hasCredentials() bool { return a.username != "" || a.password != "" }

// authorize sets req's Authorization, when a challenge was answered.
func (a *authenticator) authorize(req *http.Request) {
	if a.header != "" {
		req.Header.Set("Authorization", a.header)
	}
}

// answer reads the challenge of a 401 response and gets what the next try should send.
func (a *authenticator) answer(ctx context.Context, resp *http.Response) error {
	challenges := parseChallenges(resp.Header.Values("WWW-Authenticate"))
	if len(challenges) == 0 {
		return errors.New("401 Unauthorized with no WWW-Authenticate challenge")
	}
	if bearer, ok := challenges["bearer"]; ok {
		token, err := a.token(ctx, bearer)
		if err != nil {
			return err
		}
		a.header = "Bearer " + token
		return nil
	}
	if _, ok := challenges["basic"]; ok {
		if !a.hasCredentials() {
			return errors.New("the registry asks for credentials (HTTP basic): set REGISTRY_USERNAME and REGISTRY_PASSWORD")
		}
		basic := "Basic " + basicAuth(a.username, a.password)
		if a.header == basic {
			return errors.New("the registry refused REGISTRY_USERNAME and REGISTRY_PASSWORD (HTTP basic)")
		}
		a.header = basic
		return nil
	}
	var schemes []string
	for scheme := range challenges {
		schemes = append(schemes, scheme)
	}
	return fmt.Errorf("unsupported authentication scheme %s (want Basic or Bearer)", strings.Join(schemes, ", "))
}

// token asks the realm of a Bearer challenge for a token.
func (a *authenticator) token(ctx context.Context, challenge map[string]string) (string, error) {
	realm, err := url.Parse(challenge["realm"])
	if err != nil || realm.Host == "" || (realm.Scheme != "https" && realm.Scheme != "http") {
		return "", fmt.Errorf("bearer challenge: realm %q is not an http(s) URL", challenge["realm"])
	}
	q := realm.Query()
	if service := challenge["service"]; service != "" {
		q.Set("service", service)
	}
	scopes := strings.Fields(challenge["scope"])
	if push := "repository:" + a.repo + ":pull,push"; !slices.Contains(scopes, push) {
		scopes = append(scopes, push)
	}
	for _, scope := range scopes {
		q.Add("scope", scope)
	}
	if a.username != "" {
		q.Set("account", a.username)
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	if a.hasCredentials() {
		if realm.Scheme == "http" && !a.plainHTTPAllowed(realm.Host) {
			return "", fmt.Errorf("bearer challenge: refusing to send REGISTRY_USERNAME and REGISTRY_PASSWORD to %s over plain http (-insecure allows it)", realm.Host)
		}
		req.SetBasicAuth(a.username, a.password)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("get a token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = " (check REGISTRY_USERNAME and REGISTRY_PASSWORD)"
		}
		return "", fmt.Errorf("get a token: GET %s://%s%s: %s%s%s", realm.Scheme, realm.Host, realm.Path, resp.Status, registryErrors(body), hint)
	}
	var answer struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", fmt.Errorf("get a token: GET %s://%s%s: %w", realm.Scheme, realm.Host, realm.Path, err)
	}
	if answer.Token != "" {
		return answer.Token, nil
	}
	if answer.AccessToken != "" {
		return answer.AccessToken, nil
	}
	return "", fmt.Errorf("get a token: GET %s://%s%s: the answer holds neither token nor access_token", realm.Scheme, realm.Host, realm.Path)
}

// parseChallenges parses WWW-Authenticate values (RFC 7235) into their parameters by
// lower-cased scheme: `Bearer realm="https://auth.example/token",service="x",scope="a b"`.
func parseChallenges(values []string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, value := range values {
		var scheme string
		s := strings.TrimSpace(value)
		for s != "" {
			token := s
			if i := strings.IndexAny(s, " \t,="); i >= 0 {
				token = s[:i]
			}
			rest := strings.TrimLeft(s[len(token):], " \t")
			if strings.HasPrefix(rest, "=") && scheme != "" && token != "" {
				// A parameter of the current challenge.
				var val string
				val, s = parseParamValue(strings.TrimLeft(rest[1:], " \t"))
				out[scheme][strings.ToLower(token)] = val
			} else if token != "" {
				// A new challenge's scheme.
				scheme = strings.ToLower(token)
				if out[scheme] == nil {
					out[scheme] = map[string]string{}
				}
				s = rest
			} else {
				s = rest
			}
			s = strings.TrimLeft(s, " \t,")
		}
	}
	return out
}

// parseParamValue reads a token or quoted-string value and returns it and what follows it.
func parseParamValue(s string) (value, rest string) {
	if !strings.HasPrefix(s, `"`) {
		if i := strings.IndexAny(s, " \t,"); i >= 0 {
			return s[:i], s[i:]
		}
		return s, ""
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}

func basicAuth(username, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(username + ":" + password))
}
