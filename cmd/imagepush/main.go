// Command imagepush pushes the image archive that cmd/imagebuild writes (an OCI image layout in a
// tar) to a registry over the OCI distribution API, with no container runtime: every blob the
// registry lacks, each platform's manifest by digest, then the index under the tag.
//
// Credentials come from REGISTRY_USERNAME and REGISTRY_PASSWORD when the registry asks for them,
// as HTTP basic or through the registry's bearer token service. The registry is reached over
// https, or plain http when it is on loopback or -insecure says so.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"redis-operator/pkg/oci"
)

// pusher pushes image layouts to registries.
type pusher struct {
	client             *http.Client
	insecure           bool // plain http to any host, not only loopback
	username, password string
	log                io.Writer // one line per blob and manifest
}

// push sends the archive's image to ref, tagged ref.tag or, when ref has no tag, the tag the
// layout gives its image. It returns the reference pushed and the digest the tag resolves to.
func (p *pusher) push(ctx context.Context, archive string, ref reference) (reference, string, error) {
	a, err := oci.OpenArchive(archive)
	if err != nil {
		return ref, "", err
	}
	defer a.Close()
	index, err := a.Index()
	if err != nil {
		return ref, "", fmt.Errorf("%s: %w", archive, err)
	}
	root, err := rootImage(index)
	if err != nil {
		return ref, "", fmt.Errorf("%s: %w", archive, err)
	}
	if ref.tag == "" {
		ref.tag = root.Annotations[oci.AnnotationRefName]
		if !tagPattern.MatchString(ref.tag) {
			return ref, "", fmt.Errorf("%s names no tag in the image and the archive gives none: add :TAG", ref)
		}
	}
	pl, err := planPush(a, root)
	if err != nil {
		return ref, "", fmt.Errorf("%s: %w", archive, err)
	}

	scheme := "https"
	if p.insecure || isLoopback(ref.host) {
		scheme = "http"
	}
	plainHTTPAllowed := func(host string) bool { return p.insecure || isLoopback(host) }
	r := &registry{client: p.client, base: &url.URL{Scheme: scheme, Host: ref.host}, repo: ref.repo,
		auth: &authenticator{client: p.client, username: p.username, password: p.password, repo: ref.repo,
			plainHTTPAllowed: plainHTTPAllowed}}

	for _, b := range pl.blobs {
		exists, err := r.blobExists(ctx, b)
		if err != nil {
			return ref, "", err
		}
		if exists {
			fmt.Fprintf(p.log, "blob %s: already there\n", b.Digest)
			continue
		}
		content, err := a.Blob(b)
		if err != nil {
			return ref, "", fmt.Errorf("%s: %w", archive, err)
		}
		if err := r.uploadBlob(ctx, b, content); err != nil {
			return ref, "", err
		}
		fmt.Fprintf(p.log, "blob %s (%d bytes): pushed\n", b.Digest, len(content))
	}
	for i, m := range pl.manifests {
		target := m.Digest
		if i == len(pl.manifests)-1 {
			target = ref.tag
		}
		if err := r.putManifest(ctx, m, target); err != nil {
			return ref, "", err
		}
		switch {
		case target == ref.tag:
			fmt.Fprintf(p.log, "%s %s: tagged %s\n", kind(m.MediaType), m.Digest, ref.tag)
		case m.Platform != nil:
			fmt.Fprintf(p.log, "%s %s (%s): pushed\n", kind(m.MediaType), m.Digest, m.Platform)
		default:
			fmt.Fprintf(p.log, "%s %s: pushed\n", kind(m.MediaType), m.Digest)
		}
	}
	return ref, root.Digest, nil
}

func kind(mediaType string) string {
	if mediaType == oci.MediaIndex || mediaType == oci.MediaDockerList {
		return "index"
	}
	return "manifest"
}

func main() {
	archive := flag.String("archive", "bin/redis-operator.oci.tar", "The image archive to push (make image writes it).")
	insecure := flag.Bool("insecure", false, "Plain http to the registry even when it is not on loopback (loopback always is).")
	timeout := flag.Duration("timeout", 10*time.Minute, "Give up after this long.")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: imagepush [flags] HOST[:PORT]/NAME[:TAG]   (for example registry.example/redis-operator:TAG)")
		fmt.Fprintln(os.Stderr, "Pushes the archive to the registry; with no TAG, the tag the archive gives its image.")
		fmt.Fprintln(os.Stderr, "REGISTRY_USERNAME and REGISTRY_PASSWORD are the credentials, when the registry asks for some.")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ref, err := parseReference(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagepush:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p := &pusher{client: &http.Client{}, insecure: *insecure, username: os.Getenv("REGISTRY_USERNAME"),
		password: os.Getenv("REGISTRY_PASSWORD"), log: os.Stderr}
	ref, digest, err := p.push(ctx, *archive, ref)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagepush:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s\n", ref, digest)
}
