package v1beta1

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults of optional spec fields. The CRD schema applies some of them on the server too; these
// methods make a spec read the same whether or not it went through an API server.
const (
	DefaultClusterNodeTimeout = 5000
	DefaultExporterImage      = "oliver006/redis_exporter"
	DefaultExporterTag        = "v1.62.0"
	DefaultPersistenceSize    = "1Gi"
	DefaultScaleCooldown      = 5 * time.Minute
	// MinimumMasters is the least masters a Redis Cluster needs to fail over.
	MinimumMasters = 3
)

// Port offsets of a node's cluster bus and exporter ports from its client port.
const (
	BusPortOffset      = 10000
	ExporterPortOffset = 20000
)

// NodeCount is the number of Redis nodes the spec asks for.
func (s *RedisClusterSpec) NodeCount() int {
	return int(s.Masters) * (1 + int(s.Replicas))
}

// NodePort is the client port of node index.
func (s *RedisClusterSpec) NodePort(index int) int32 {
	return s.BasePort + int32(index)
}

// ImageRef is image, with tag appended when tag is set.
func (s *RedisClusterSpec) ImageRef() string {
	return withTag(s.Image, s.Tag)
}

// NodeTimeoutMillis is cluster-node-timeout in milliseconds.
func (s *RedisClusterSpec) NodeTimeoutMillis() int32 {
	if s.ClusterNodeTimeout == nil {
		return DefaultClusterNodeTimeout
	}
	return *s.ClusterNodeTimeout
}

// ExporterEnabled reports whether nodes get the redis_exporter sidecar.
func (s *RedisClusterSpec) ExporterEnabled() bool {
	return s.Exporter == nil || s.Exporter.Enabled == nil || *s.Exporter.Enabled
}

// ExporterImageRef is the exporter image with its tag.
func (s *RedisClusterSpec) ExporterImageRef() string {
	if s.Exporter == nil || s.Exporter.Image == "" {
		tag := DefaultExporterTag
		if s.Exporter != nil && s.Exporter.Tag != "" {
			tag = s.Exporter.Tag
		}
		return withTag(DefaultExporterImage, tag)
	}
	return withTag(s.Exporter.Image, s.Exporter.Tag)
}

// ExporterResourceRequirements are exporter.resources, or the older exporterResources.
func (s *RedisClusterSpec) ExporterResourceRequirements() corev1.ResourceRequirements {
	if s.Exporter != nil && s.Exporter.Resources != nil {
		return *s.Exporter.Resources
	}
	if s.ExporterResources != nil {
		return *s.ExporterResources
	}
	return corev1.ResourceRequirements{}
}

// PersistenceEnabled reports whether nodes keep data on PersistentVolumeClaims.
func (s *RedisClusterSpec) PersistenceEnabled() bool {
	return s.Persistence != nil && s.Persistence.Enabled
}

// PersistenceSize is the size of each node's claim.
func (s *RedisClusterSpec) PersistenceSize() resource.Quantity {
	if s.Persistence != nil && s.Persistence.Size != nil {
		return *s.Persistence.Size
	}
	return resource.MustParse(DefaultPersistenceSize)
}

// ScaleCooldownDuration is the least time between two autoscaling changes.
func (s *RedisClusterSpec) ScaleCooldownDuration() time.Duration {
	if s.ScaleCooldown == nil {
		return DefaultScaleCooldown
	}
	return s.ScaleCooldown.Duration
}

// MasterBounds are the masters counts autoscaling keeps within; max is 0 when unbounded.
func (s *RedisClusterSpec) MasterBounds() (minMasters, maxMasters int32) {
	minMasters = MinimumMasters
	if s.MinMasters != nil && *s.MinMasters > minMasters {
		minMasters = *s.MinMasters
	}
	if s.MaxMasters != nil {
		maxMasters = *s.MaxMasters
	}
	return minMasters, maxMasters
}

// withTag sets image's tag: a tag in image itself is replaced, a digest is kept as it is.
func withTag(image, tag string) string {
	if tag == "" || strings.Contains(image, "@") {
		return image
	}
	lastSegment := strings.LastIndex(image, "/") + 1
	if colon := strings.LastIndex(image[lastSegment:], ":"); colon >= 0 {
		image = image[:lastSegment+colon]
	}
	return image + ":" + tag
}

// TopologyKeyOrDefault is the node label of the failure domains shards spread over.
func (s *RedisClusterSpec) TopologyKeyOrDefault() string {
	if s.TopologyKey == "" {
		return corev1.LabelHostname
	}
	return s.TopologyKey
}

// TLSAuthClients is tls-auth-clients of a TLS cluster: authClients, "yes" when unset.
func (s *RedisClusterSpec) TLSAuthClients() string {
	if s.TLS == nil || s.TLS.AuthClients == "" {
		return "yes"
	}
	return s.TLS.AuthClients
}

// Values of status.links.
const (
	LinksTLS   = "TLS"
	LinksPlain = "Plain"
)

// RunsTLS reports whether rc's nodes run TLS links: status.links, or spec.tls before the
// operator recorded it.
func (rc *RedisCluster) RunsTLS() bool {
	switch rc.Status.Links {
	case LinksTLS:
		return true
	case LinksPlain:
		return false
	}
	return rc.Spec.TLS != nil
}
