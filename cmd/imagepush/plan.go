package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"redis-operator/pkg/oci"
)

// rootImage is the one image the archive's index.json names: what a push tags.
func rootImage(index oci.Index) (oci.Descriptor, error) {
	if len(index.Manifests) != 1 {
		return oci.Descriptor{}, fmt.Errorf("index.json names %d images; a push takes a layout of one (make image writes one)", len(index.Manifests))
	}
	return index.Manifests[0], nil
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

// planPush walks the image graph from root, reading every blob it will send so that a damaged
// archive is refused before anything is sent.
func planPush(a *oci.Archive, root oci.Descriptor) (plan, error) {
	var p plan
	seen := map[string]bool{}
	var visit func(d oci.Descriptor, depth int) error
	visit = func(d oci.Descriptor, depth int) error {
		if depth > 8 {
			return errors.New("indexes nested deeper than 8")
		}
		content, err := a.Blob(d)
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
				if err := a.ReadBlob(b, func(io.Reader) error { return nil }); err != nil {
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
