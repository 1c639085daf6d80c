package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"redis-operator/pkg/oci"
)

// fakeRegistry is an in-process registry on loopback with just the push endpoints of the OCI
// distribution spec: HEAD blob, POST upload, PUT upload, PUT and GET manifest. It checks what
// the spec makes a registry check: a blob's digest on upload, a manifest's Content-Type against
// its mediaType, and that everything a manifest references is there before it.
type fakeRegistry struct {
	*httptest.Server
	repo string

	// auth is "" (anonymous), "basic" or "bearer"; user and password are the credentials the
	// registry (basic) or its token service (bearer) wants, none for an anonymous token.
	auth           string
	user, password string
	tokenField     string // "token" or "access_token"
	// tls serves https, with httptest's certificate for 127.0.0.1.
	tls bool
	// absoluteLocation makes POST answer an absolute upload URL without a query.
	absoluteLocation bool
	// fail makes the request whose "METHOD /path" starts with failOn answer failStatus.
	failOn     string
	failStatus int

	mu        sync.Mutex
	blobs     map[string][]byte
	manifests map[string]storedManifest
	tags      map[string]string   // tag -> digest
	uploads   map[string]bool     // open upload sessions
	tokens    map[string][]string // token -> scopes granted
	log       []string            // "METHOD /path" of every request
}

type storedManifest struct {
	contentType string
	content     []byte
}

func newFakeRegistry(t *testing.T, repo string, configure func(*fakeRegistry)) *fakeRegistry {
	f := &fakeRegistry{repo: repo, tokenField: "token", blobs: map[string][]byte{},
		manifests: map[string]storedManifest{}, tags: map[string]string{}, uploads: map[string]bool{},
		tokens: map[string][]string{}}
	if configure != nil {
		configure(f)
	}
	if f.tls {
		f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	} else {
		f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	}
	t.Cleanup(f.Close)
	return f
}

// host is the registry's host:port on loopback.
func (f *fakeRegistry) host() string { return f.Listener.Addr().String() }

// count is how many requests started with prefix ("POST /v2/").
func (f *fakeRegistry) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, line := range f.log {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

var routes = regexp.MustCompile(`^/v2/(.+)/(blobs/uploads/|blobs/uploads/([^/]+)|blobs/([^/]+)|manifests/([^/]+))$`)

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	if r.URL.Path == "/token" {
		f.serveToken(w, r)
		return
	}
	if f.failOn != "" && strings.HasPrefix(r.Method+" "+r.URL.Path, f.failOn) {
		writeError(w, f.failStatus, "DENIED", "the fake registry says no")
		return
	}
	m := routes.FindStringSubmatch(r.URL.Path)
	if m == nil || m[1] != f.repo {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "no route "+r.URL.Path)
		return
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	if !f.authorized(w, r, write) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodHead && m[4] != "":
		if content, ok := f.blobs[m[4]]; ok {
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.Header().Set("Docker-Content-Digest", m[4])
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodPost && m[2] == "blobs/uploads/":
		id := rand.Text()
		f.uploads[id] = true
		location := "/v2/" + f.repo + "/blobs/uploads/" + id + "?_state=" + id
		if f.absoluteLocation {
			location = f.URL + "/v2/" + f.repo + "/blobs/uploads/" + id
		}
		w.Header().Set("Location", location)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPut && m[3] != "":
		id, digest := m[3], r.URL.Query().Get("digest")
		if !f.uploads[id] || (!f.absoluteLocation && r.URL.Query().Get("_state") != id) {
			writeError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload "+id+" with its state")
			return
		}
		if sha256Digest(body) != digest {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "the body's digest is "+sha256Digest(body))
			return
		}
		delete(f.uploads, id)
		f.blobs[digest] = body
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Location", "/v2/"+f.repo+"/blobs/"+digest)
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPut && m[5] != "":
		f.putManifest(w, r, m[5], body)
	case r.Method == http.MethodGet && m[5] != "":
		ref := m[5]
		if digest, ok := f.tags[ref]; ok {
			ref = digest
		}
		stored, ok := f.manifests[ref]
		if !ok {
			writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", ref)
			return
		}
		w.Header().Set("Content-Type", stored.contentType)
		w.Header().Set("Docker-Content-Digest", ref)
		w.Write(stored.content)
	default:
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", r.Method+" "+r.URL.Path)
	}
}

func (f *fakeRegistry) putManifest(w http.ResponseWriter, r *http.Request, ref string, body []byte) {
	digest := sha256Digest(body)
	if strings.HasPrefix(ref, "sha256:") && ref != digest {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "the body's digest is "+digest)
		return
	}
	var m struct {
		MediaType string
		Manifests []oci.Descriptor
		Config    *oci.Descriptor
		Layers    []oci.Descriptor
	}
	if err := json.Unmarshal(body, &m); err != nil || m.MediaType != r.Header.Get("Content-Type") {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "Content-Type "+r.Header.Get("Content-Type")+" for "+m.MediaType)
		return
	}
	for _, child := range m.Manifests {
		if _, ok := f.manifests[child.Digest]; !ok {
			writeError(w, http.StatusBadRequest, "MANIFEST_UNKNOWN", child.Digest)
			return
		}
	}
	if m.Config != nil {
		for _, b := range append([]oci.Descriptor{*m.Config}, m.Layers...) {
			if _, ok := f.blobs[b.Digest]; !ok {
				writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", b.Digest)
				return
			}
		}
	}
	f.manifests[digest] = storedManifest{contentType: r.Header.Get("Content-Type"), content: body}
	if ref != digest {
		f.tags[ref] = digest
	}
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Location", "/v2/"+f.repo+"/manifests/"+digest)
	w.WriteHeader(http.StatusCreated)
}

// authorized checks a request's credentials and answers 401 with a challenge when they do not do.
func (f *fakeRegistry) authorized(w http.ResponseWriter, r *http.Request, write bool) bool {
	switch f.auth {
	case "basic":
		if user, password, ok := r.BasicAuth(); ok && user == f.user && password == f.password {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="fake registry"`)
	case "bearer":
		action := "pull"
		if write {
			action = "push"
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		for _, scope := range f.tokens[token] {
			if parts := strings.Split(scope, ":"); len(parts) == 3 && parts[0] == "repository" &&
				parts[1] == f.repo && slices.Contains(strings.Split(parts[2], ","), action) {
				return true
			}
		}
		// Like real registries, a read is challenged for pull only: the client has to ask for push.
		scope := "repository:" + f.repo + ":pull"
		if write {
			scope += ",push"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="fake-registry",scope="%s"`, f.URL, scope))
	default:
		return true
	}
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

// serveToken is the bearer token service: it grants every scope asked for, to the right
// credentials (or to anyone when it wants none).
func (f *fakeRegistry) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("service") != "fake-registry" {
		writeError(w, http.StatusBadRequest, "INVALID", "service "+r.URL.Query().Get("service"))
		return
	}
	if f.user != "" {
		if user, password, ok := r.BasicAuth(); !ok || user != f.user || password != f.password {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
			return
		}
	}
	token := rand.Text()
	f.tokens[token] = r.URL.Query()["scope"]
	json.NewEncoder(w).Encode(map[string]string{f.tokenField: token})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]interface{}{"errors": []map[string]string{{"code": code, "message": message}}})
}

func sha256Digest(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}
