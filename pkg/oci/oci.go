// Package oci holds the few parts of the OCI image spec the project reads and writes: media
// types, descriptors, indexes and manifests of an image layout.
package oci

// Media types of OCI image indexes, manifests, configs and layers, and the Docker ones
// registries and archives also carry.
const (
	MediaIndex          = "application/vnd.oci.image.index.v1+json"
	MediaManifest       = "application/vnd.oci.image.manifest.v1+json"
	MediaConfig         = "application/vnd.oci.image.config.v1+json"
	MediaLayerGzip      = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaLayer          = "application/vnd.oci.image.layer.v1.tar"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// AnnotationRefName is the tag an image layout's index.json gives an image.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// Descriptor points at a blob by digest.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform is what an image of an index runs on.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// String is os/architecture[/variant], "" for none.
func (p *Platform) String() string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Index lists the images of several platforms.
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Manifest is one platform's image: its config and layers.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}
