package main

import (
	"archive/tar"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	"redis-operator/pkg/oci"
)

// layout is an OCI image layout read from its tar: the descriptors of index.json and the
// content of blobs/<algorithm>/<hex> by digest.
type layout struct {
	index []oci.Descriptor
	blobs map[string][]byte
}

// readLayout reads an OCI image layout archive, as cmd/imagebuild writes it, into memory.
func readLayout(archive string) (*layout, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l := &layout{blobs: map[string][]byte{}}
	var index []byte
	var sawLayout bool
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", archive, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		switch {
		case name == "oci-layout":
			sawLayout = true
		case name == "index.json":
			if index, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%s: index.json: %w", archive, err)
			}
		case strings.HasPrefix(name, "blobs/"):
			algorithm, encoded, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/")
			if !ok || strings.Contains(encoded, "/") {
				continue
			}
			content, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", archive, name, err)
			}
			l.blobs[algorithm+":"+encoded] = content
		}
	}
	if !sawLayout || index == nil {
		return nil, fmt.Errorf("%s is not an OCI image layout archive (no oci-layout or index.json)", archive)
	}
	var top struct{ Manifests []oci.Descriptor }
	if err := json.Unmarshal(index, &top); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", archive, err)
	}
	l.index = top.Manifests
	return l, nil
}

// root is the one image the layout holds: what a push tags.
func (l *layout) root() (oci.Descriptor, error) {
	if len(l.index) != 1 {
		return oci.Descriptor{}, fmt.Errorf("index.json names %d images; a push takes a layout of one (make image writes one)", len(l.index))
	}
	return l.index[0], nil
}

// blob returns the content of d, checked against its digest and size.
func (l *layout) blob(d oci.Descriptor) ([]byte, error) {
	content, ok := l.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the archive", d.Digest)
	}
	if got, err := digestOf(d.Digest, content); err != nil {
		return nil, err
	} else if got != d.Digest {
		return nil, fmt.Errorf("blob %s in the archive has digest %s: the archive is damaged", d.Digest, got)
	}
	if int64(len(content)) != d.Size {
		return nil, fmt.Errorf("blob %s is %d bytes, its descriptor says %d", d.Digest, len(content), d.Size)
	}
	return content, nil
}

// digestOf computes content's digest with the algorithm digest names.
func digestOf(digest string, content []byte) (string, error) {
	algorithm, _, _ := strings.Cut(digest, ":")
	var h hash.Hash
	switch algorithm {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return "", fmt.Errorf("digest %q: unsupported algorithm", digest)
	}
	h.Write(content)
	return algorithm + ":" + hex.EncodeToString(h.Sum(nil)), nil
}

// manifestRef is a manifest or index to push: its descriptor and its content.
type manifestRef struct {
	oci.Descriptor
	content []byte
}

// plan is what a push sends, in an order a registry accepts: every blob (configs and layers,
// each once), then every manifest after everything it references, the root last.
type plan struct {
	blobs     []oci.Descriptor
	manifests []manifestRef
}

// planPush walks the image graph from root.
func (l *layout) planPush(root oci.Descriptor) (plan, error) {
	var p plan
	seen := map[string]bool{}
	var visit func(d oci.Descriptor, depth int) error
	visit = func(d oci.Descriptor, depth int) error {
		if depth > 8 {
			return errors.New("indexes nested deeper than 8")
		}
		content, err := l.blob(d)
		if err != nil {
			return err
		}
		var m struct {
			MediaType string           `json:"mediaType"`
			Manifests []oci.Descriptor `json:"manifests"`
			Config    *oci.Descriptor  `json:"config"`
			Layers    []oci.Descriptor `json:"layers"`
		}
		if err := json.Unmarshal(content, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		// The content's own mediaType is what the registry checks the Content-Type against.
		if m.MediaType != "" {
			d.MediaType = m.MediaType
		}
		switch d.MediaType {
		case oci.MediaIndex, oci.MediaDockerList:
			for _, child := range m.Manifests {
				if !seen[child.Digest] {
					if err := visit(child, depth+1); err != nil {
						return err
					}
				}
			}
		case oci.MediaManifest, oci.MediaDockerManifest:
			if m.Config == nil {
				return fmt.Errorf("manifest %s has no config", d.Digest)
			}
			for _, b := range append([]oci.Descriptor{*m.Config}, m.Layers...) {
				if seen[b.Digest] {
					continue
				}
				if _, err := l.blob(b); err != nil {
					return fmt.Errorf("manifest %s: %w", d.Digest, err)
				}
				seen[b.Digest] = true
				p.blobs = append(p.blobs, b)
			}
		default:
			return fmt.Errorf("manifest %s: unsupported media type %q", d.Digest, d.MediaType)
		}
		seen[d.Digest] = true
		p.manifests = append(p.manifests, manifestRef{Descriptor: d, content: content})
		return nil
	}
	if err := visit(root, 0); err != nil {
		return plan{}, err
	}
	return p, nil
}
