package v1beta1

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestImageRef(t *testing.T) {
	cases := []struct{ image, tag, want string }{
		{"redis", "", "redis"},
		{"redis", "7.0.15", "redis:7.0.15"},
		{"awbrg789/redis:latest", "7.0.15", "awbrg789/redis:7.0.15"},
		{"images.internal:5000/redis", "7.2", "images.internal:5000/redis:7.2"},
		{"images.internal:5000/redis:7.0", "7.2", "images.internal:5000/redis:7.2"},
		{"redis@sha256:abc", "7.2", "redis@sha256:abc"},
	}
	for _, tc := range cases {
		spec := RedisClusterSpec{Image: tc.image, Tag: tc.tag}
		require.Equal(t, tc.want, spec.ImageRef(), "%s + %s", tc.image, tc.tag)
	}
}

func TestMasterBoundsNeverBelowThree(t *testing.T) {
	two, eight := int32(2), int32(8)
	spec := RedisClusterSpec{MinMasters: &two, MaxMasters: &eight}
	lo, hi := spec.MasterBounds()
	require.EqualValues(t, 3, lo)
	require.EqualValues(t, 8, hi)
}
