package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"redis-operator/pkg/oci"
)

// registry speaks the push side of the OCI distribution spec to one repository.
type registry struct {
	client *http.Client
	base   *url.URL // scheme://host[:port]
	repo   string
	auth   *authenticator
}

// request is one HTTP exchange of a push step.
type request struct {
	step        string // what the push was doing, for errors
	method      string
	url         *url.URL
	body        []byte
	contentType string
	accept      string
	want        []int // the statuses that mean success
}

// response is what a request got back; the body is read whole (registries answer briefly).
type response struct {
	status int
	header http.Header
	url    *url.URL // after redirects
	body   []byte
}

// stepError is a failed push step: what it did, and the registry's answer.
type stepError struct {
	step, method, url string
	status            string
	detail            string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("%s: %s %s: %s%s", e.step, e.method, e.url, e.status, e.detail)
}

func (r *registry) endpoint(path string) *url.URL {
	u := *r.base
	u.Path = "/v2/" + r.repo + path
	return &u
}

// do sends req, answering one authentication challenge on the way: a 401 is answered (a token
// fetched, or basic credentials chosen) and the request sent once more.
func (r *registry) do(ctx context.Context, req request) (*response, error) {
	for attempt := 0; ; attempt++ {
		httpReq, err := http.NewRequestWithContext(ctx, req.method, req.url.String(), bytes.NewReader(req.body))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req.step, err)
		}
		if req.contentType != "" {
			httpReq.Header.Set("Content-Type", req.contentType)
		}
		if req.accept != "" {
			httpReq.Header.Set("Accept", req.accept)
		}
		// Credentials go only to the registry itself, not to an upload URL elsewhere.
		if req.url.Host == r.base.Host {
			r.auth.authorize(httpReq)
		}
		resp, err := r.client.Do(httpReq)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", req.step, req.method, redact(req.url), err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %s: reading the answer: %w", req.step, req.method, redact(req.url), resp.Status, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && req.url.Host == r.base.Host {
			if err := r.auth.answer(ctx, resp); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %s: %w", req.step, req.method, redact(req.url), resp.Status, err)
			}
			continue
		}
		for _, want := range req.want {
			if resp.StatusCode == want {
				return &response{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL, body: body}, nil
			}
		}
		detail := registryErrors(body)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			detail += fmt.Sprintf(" (check REGISTRY_USERNAME, REGISTRY_PASSWORD and the right to push to %s)", r.repo)
		}
		return nil, &stepError{step: req.step, method: req.method, url: redact(req.url), status: resp.Status, detail: detail}
	}
}

// blobExists asks whether the repository has the blob already.
func (r *registry) blobExists(ctx context.Context, d oci.Descriptor) (bool, error) {
	resp, err := r.do(ctx, request{step: "check blob " + d.Digest, method: http.MethodHead,
		url: r.endpoint("/blobs/" + d.Digest), want: []int{http.StatusOK, http.StatusNotFound}})
	if err != nil {
		return false, err
	}
	return resp.status == http.StatusOK, nil
}

// uploadBlob uploads content in one piece: POST opens an upload session, PUT to its Location
// with the digest closes it.
func (r *registry) uploadBlob(ctx context.Context, d oci.Descriptor, content []byte) error {
	step := "upload blob " + d.Digest
	resp, err := r.do(ctx, request{step: step + " (open the upload)", method: http.MethodPost,
		url: r.endpoint("/blobs/uploads/"), want: []int{http.StatusAccepted}})
	if err != nil {
		return err
	}
	location := resp.header.Get("Location")
	if location == "" {
		return fmt.Errorf("%s (open the upload): POST %s: %d with no Location", step, redact(r.endpoint("/blobs/uploads/")), resp.status)
	}
	put, err := resp.url.Parse(location)
	if err != nil {
		return fmt.Errorf("%s (open the upload): Location %q: %w", step, location, err)
	}
	digestParam := "digest=" + url.QueryEscape(d.Digest)
	if put.RawQuery == "" {
		put.RawQuery = digestParam
	} else {
		put.RawQuery += "&" + digestParam
	}
	resp, err = r.do(ctx, request{step: step, method: http.MethodPut, url: put, body: content,
		contentType: "application/octet-stream", want: []int{http.StatusCreated}})
	if err != nil {
		return err
	}
	if got := resp.header.Get("Docker-Content-Digest"); got != "" && got != d.Digest {
		return fmt.Errorf("%s: the registry stored it as %s", step, got)
	}
	return nil
}

// putManifest stores a manifest or index under ref, a digest or a tag.
func (r *registry) putManifest(ctx context.Context, m manifestRef, ref string) error {
	step := "put manifest " + m.Digest
	if ref != m.Digest {
		step = fmt.Sprintf("tag %s as %s", m.Digest, ref)
	}
	resp, err := r.do(ctx, request{step: step, method: http.MethodPut, url: r.endpoint("/manifests/" + ref),
		body: m.content, contentType: m.MediaType, want: []int{http.StatusCreated, http.StatusOK}})
	if err != nil {
		return err
	}
	if got := resp.header.Get("Docker-Content-Digest"); got != "" && got != m.Digest {
		return fmt.Errorf("%s: the registry stored it as %s", step, got)
	}
	return nil
}

// registryErrors formats the error body of the distribution spec,
// {"errors":[{"code":...,"message":...}]}, or the start of any other body.
func registryErrors(body []byte) string {
	var parsed struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(body, &parsed) == nil && len(parsed.Errors) > 0 {
		var parts []string
		for _, e := range parsed.Errors {
			parts = append(parts, strings.TrimSpace(e.Code+" "+e.Message))
		}
		return ": " + strings.Join(parts, "; ")
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	if text == "" {
		return ""
	}
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return ": " + text
}

// redact drops the query of an upload URL, which may carry the registry's session state.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.User = "", nil
	return c.String()
}
