package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/oci"
)

// buildArchive writes an image archive with cmd/imagebuild itself, from two small stand-in
// binaries, so that the push is tested on exactly what make image writes.
func buildArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"run", "redis-operator/cmd/imagebuild", "-version", "v9.8.7", "-out", filepath.Join(dir, "image.oci.tar")}
	for _, arch := range []string{"amd64", "arm64"} {
		binary := make([]byte, 64<<10)
		rand.Read(binary)
		path := filepath.Join(dir, arch)
		require.NoError(t, os.WriteFile(path, binary, 0o755))
		args = append(args, arch+"="+path)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return filepath.Join(dir, "image.oci.tar")
}

// archiveContent reads an archive as the registry should end up holding it: the index the
// layout names, every manifest and every blob, by digest.
type archiveContent struct {
	index     string
	manifests map[string]string // digest -> mediaType
	blobs     map[string][]byte // digest -> content, manifests included
	layers    []string          // configs and layers
}

func readArchive(t *testing.T, path string) archiveContent {
	a, err := oci.OpenArchive(path)
	require.NoError(t, err)
	defer a.Close()
	c := archiveContent{manifests: map[string]string{}, blobs: map[string][]byte{}}
	keep := func(d oci.Descriptor) []byte {
		content, err := a.Blob(d)
		require.NoError(t, err)
		c.blobs[d.Digest] = content
		return content
	}
	layout, err := a.Index()
	require.NoError(t, err)
	require.Len(t, layout.Manifests, 1)
	c.index = layout.Manifests[0].Digest
	c.manifests[c.index] = oci.MediaIndex
	var index oci.Index
	require.NoError(t, json.Unmarshal(keep(layout.Manifests[0]), &index))
	require.Len(t, index.Manifests, 2)
	for _, m := range index.Manifests {
		c.manifests[m.Digest] = m.MediaType
		var manifest oci.Manifest
		require.NoError(t, json.Unmarshal(keep(m), &manifest))
		for _, b := range append([]oci.Descriptor{manifest.Config}, manifest.Layers...) {
			keep(b)
			c.layers = append(c.layers, b.Digest)
		}
	}
	return c
}

// TestPush pushes an archive that imagebuild wrote to a fake registry, anonymously, with basic
// credentials and through the bearer token flow, and checks that every blob and manifest arrived
// intact under its digest, with its media type, and that the tag resolves to the index.
func TestPush(t *testing.T) {
	archive := buildArchive(t)
	want := readArchive(t, archive)
	require.Len(t, want.layers, 4, "a config and a layer per platform")

	cases := []struct {
		name           string
		repo, tag      string
		user, password string
		configure      func(*fakeRegistry)
	}{
		{name: "anonymous", repo: "redis-operator", tag: "dev"},
		{name: "anonymous, absolute upload URL, tag from the archive", repo: "team/redis-operator",
			configure: func(f *fakeRegistry) { f.absoluteLocation = true }},
		{name: "basic", repo: "redis-operator", tag: "dev", user: "ops", password: "s3cret",
			configure: func(f *fakeRegistry) { f.auth, f.user, f.password = "basic", "ops", "s3cret" }},
		{name: "bearer token with credentials", repo: "redis-operator", tag: "dev", user: "ops", password: "s3cret",
			configure: func(f *fakeRegistry) { f.auth, f.user, f.password = "bearer", "ops", "s3cret" }},
		{name: "anonymous bearer token in access_token", repo: "redis-operator", tag: "v1",
			configure: func(f *fakeRegistry) { f.auth, f.tokenField = "bearer", "access_token" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRegistry(t, tc.repo, tc.configure)
			ref, err := parseReference(f.host() + "/" + tc.repo + map[bool]string{true: ":" + tc.tag}[tc.tag != ""])
			require.NoError(t, err)
			var log bytes.Buffer
			p := &pusher{client: f.Client(), username: tc.user, password: tc.password, log: &log}
			pushed, digest, err := p.push(context.Background(), archive, ref)
			require.NoError(t, err, "log:\n%s", log.String())
			require.Equal(t, want.index, digest, "push returns the index digest")
			tag := tc.tag
			if tag == "" {
				tag = "v9.8.7"
			}
			require.Equal(t, tag, pushed.tag)

			f.mu.Lock()
			for _, d := range want.layers {
				require.Equal(t, want.blobs[d], f.blobs[d], "blob %s arrived intact", d)
			}
			require.Len(t, f.blobs, len(want.layers), "only the configs and layers are blobs")
			require.Len(t, f.manifests, len(want.manifests))
			for d, mediaType := range want.manifests {
				require.Equal(t, want.blobs[d], f.manifests[d].content, "manifest %s arrived intact", d)
				require.Equal(t, mediaType, f.manifests[d].contentType)
			}
			require.Equal(t, map[string]string{tag: want.index}, f.tags, "the tag resolves to the index")
			f.mu.Unlock()
			require.Equal(t, 4, f.count("POST /v2/"), "one upload per blob")
			require.Contains(t, log.String(), "index "+want.index+": tagged "+tag)
			if f.auth == "bearer" {
				require.Equal(t, 1, f.count("GET /token"), "one token, asked with the push scope, serves every step")
			}

			// Pushed again, every blob is there already: nothing is uploaded, the manifests are put again.
			log.Reset()
			_, digest, err = p.push(context.Background(), archive, ref)
			require.NoError(t, err)
			require.Equal(t, want.index, digest)
			require.Equal(t, 4, f.count("POST /v2/"), "no upload the second time")
			require.Equal(t, 4, strings.Count(log.String(), "already there"))
		})
	}

	t.Run("the tag resolves over the API", func(t *testing.T) {
		f := newFakeRegistry(t, "redis-operator", nil)
		ref, _ := parseReference(f.host() + "/redis-operator:dev")
		p := &pusher{client: f.Client(), log: io.Discard}
		_, _, err := p.push(context.Background(), archive, ref)
		require.NoError(t, err)
		resp, err := f.Client().Get(f.URL + "/v2/redis-operator/manifests/dev")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, oci.MediaIndex, resp.Header.Get("Content-Type"))
		require.Equal(t, want.index, resp.Header.Get("Docker-Content-Digest"))
		require.Equal(t, want.blobs[want.index], body)
	})

	t.Run("a blob already there is not uploaded", func(t *testing.T) {
		f := newFakeRegistry(t, "redis-operator", nil)
		f.blobs[want.layers[1]] = want.blobs[want.layers[1]]
		ref, _ := parseReference(f.host() + "/redis-operator:dev")
		p := &pusher{client: f.Client(), log: io.Discard}
		_, _, err := p.push(context.Background(), archive, ref)
		require.NoError(t, err)
		require.Equal(t, 3, f.count("POST /v2/"))
		require.Len(t, f.blobs, 4)
	})
}

// TestPushErrors checks that a failed push names the step and the registry's answer.
func TestPushErrors(t *testing.T) {
	archive := buildArchive(t)
	want := readArchive(t, archive)
	cases := []struct {
		name           string
		user, password string
		configure      func(*fakeRegistry)
		wantErr        []string
	}{
		{name: "upload refused",
			configure: func(f *fakeRegistry) {
				f.failOn, f.failStatus = "POST /v2/redis-operator/blobs/uploads/", http.StatusForbidden
			},
			wantErr: []string{"upload blob sha256:", "(open the upload): POST http://", "403 Forbidden: DENIED the fake registry says no", "REGISTRY_USERNAME"}},
		{name: "tag refused",
			configure: func(f *fakeRegistry) {
				f.failOn, f.failStatus = "PUT /v2/redis-operator/manifests/dev", http.StatusBadRequest
			},
			wantErr: []string{"tag " + want.index + " as dev: PUT http://", "/v2/redis-operator/manifests/dev: 400 Bad Request: DENIED"}},
		{name: "basic without credentials",
			configure: func(f *fakeRegistry) { f.auth, f.user, f.password = "basic", "ops", "s3cret" },
			wantErr:   []string{"check blob sha256:", "401 Unauthorized", "set REGISTRY_USERNAME and REGISTRY_PASSWORD"}},
		{name: "basic with wrong credentials", user: "ops", password: "wrong",
			configure: func(f *fakeRegistry) { f.auth, f.user, f.password = "basic", "ops", "s3cret" },
			wantErr:   []string{"check blob sha256:", "401 Unauthorized (check REGISTRY_USERNAME, REGISTRY_PASSWORD"}},
		{name: "token refused", user: "ops", password: "wrong",
			configure: func(f *fakeRegistry) { f.auth, f.user, f.password = "bearer", "ops", "s3cret" },
			wantErr:   []string{"check blob sha256:", "get a token: GET http://", "/token: 401 Unauthorized: UNAUTHORIZED bad credentials (check REGISTRY_USERNAME and REGISTRY_PASSWORD)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRegistry(t, "redis-operator", tc.configure)
			ref, _ := parseReference(f.host() + "/redis-operator:dev")
			p := &pusher{client: f.Client(), username: tc.user, password: tc.password, log: io.Discard}
			_, _, err := p.push(context.Background(), archive, ref)
			require.Error(t, err)
			for _, s := range tc.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}

	t.Run("a damaged archive is not pushed", func(t *testing.T) {
		raw, err := os.ReadFile(archive)
		require.NoError(t, err)
		layer := want.blobs[want.layers[1]]
		i := bytes.Index(raw, layer)
		require.Positive(t, i)
		raw[i+len(layer)/2] ^= 0xff
		damaged := filepath.Join(t.TempDir(), "damaged.oci.tar")
		require.NoError(t, os.WriteFile(damaged, raw, 0o644))
		f := newFakeRegistry(t, "redis-operator", nil)
		ref, _ := parseReference(f.host() + "/redis-operator:dev")
		_, _, err = (&pusher{client: f.Client(), log: io.Discard}).push(context.Background(), damaged, ref)
		require.ErrorContains(t, err, "the archive is damaged")
		require.Zero(t, f.count("POST "), "nothing is sent")
	})
}

// TestPushOffLoopback checks the scheme for a registry off loopback: https, or plain http with
// -insecure. The client dials the fake registry on loopback whatever host it is asked for.
func TestPushOffLoopback(t *testing.T) {
	archive := buildArchive(t)
	for _, tc := range []struct {
		name          string
		tls, insecure bool
		wantErr       string
	}{
		{name: "https by default", tls: true},
		{name: "plain http with -insecure", insecure: true},
		{name: "no plain http without -insecure", wantErr: "check blob sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRegistry(t, "redis-operator", func(f *fakeRegistry) { f.tls = tc.tls })
			transport := f.Client().Transport.(*http.Transport).Clone()
			transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, f.host())
			}
			if tc.tls {
				transport.TLSClientConfig.ServerName = "127.0.0.1" // the name httptest's certificate holds
			}
			ref, err := parseReference("registry.example:5000/redis-operator:dev")
			require.NoError(t, err)
			p := &pusher{client: &http.Client{Transport: transport}, insecure: tc.insecure, log: io.Discard}
			_, _, err = p.push(context.Background(), archive, ref)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, "HEAD https://registry.example:5000/v2/redis-operator/blobs/")
				require.Empty(t, f.manifests)
				return
			}
			require.NoError(t, err)
			require.Len(t, f.manifests, 3)
		})
	}
}

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		in             string
		host, repo     string
		tag, wantError string
	}{
		{in: "registry.example/redis-operator:TAG", host: "registry.example", repo: "redis-operator", tag: "TAG"},
		{in: "127.0.0.1:5000/team/redis-operator:v1.2.3", host: "127.0.0.1:5000", repo: "team/redis-operator", tag: "v1.2.3"},
		{in: "localhost/redis-operator", host: "localhost", repo: "redis-operator"},
		{in: "[::1]:5000/redis-operator:dev", host: "[::1]:5000", repo: "redis-operator", tag: "dev"},
		{in: "redis-operator:dev", wantError: "does not start with the registry host"},
		{in: "team/redis-operator:dev", wantError: "does not start with the registry host"},
		{in: "registry.example/Redis:dev", wantError: "not a valid repository name"},
		{in: "registry.example/redis-operator:-x", wantError: "not a valid tag"},
		{in: "registry.example/redis-operator@sha256:00", wantError: "not a digest"},
	} {
		ref, err := parseReference(tc.in)
		if tc.wantError != "" {
			require.ErrorContains(t, err, tc.wantError, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, reference{host: tc.host, repo: tc.repo, tag: tc.tag}, ref)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true,
		"127.3.2.1": true, "[::1]:5000": true, "::1": true, "registry.example": false,
		"registry.example:5000": false, "10.0.0.1:5000": false} {
		require.Equal(t, want, isLoopback(host), host)
	}
}

func TestParseChallenges(t *testing.T) {
	got := parseChallenges([]string{
		`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"`,
		`Basic realm="say \"hi\"", charset=UTF-8`,
	})
	require.Equal(t, map[string]map[string]string{
		"bearer": {"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push"},
		"basic":  {"realm": `say "hi"`, "charset": "UTF-8"},
	}, got)
}

// TestNoCredentialsOverPlainHTTP checks that a token realm off loopback over plain http does not
// get the credentials, unless -insecure says so.
func TestNoCredentialsOverPlainHTTP(t *testing.T) {
	a := &authenticator{client: http.DefaultClient, username: "ops", password: "s3cret", repo: "redis-operator",
		plainHTTPAllowed: isLoopback}
	_, err := a.token(context.Background(), map[string]string{"realm": "http://auth.example/token", "service": "x"})
	require.ErrorContains(t, err, "refusing to send REGISTRY_USERNAME and REGISTRY_PASSWORD to auth.example over plain http")
}
