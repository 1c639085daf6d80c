package oci

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// ErrUnsupportedDigest says a digest names an algorithm the reader does not know, or is not
// well formed: its blob cannot be checked, so it is not read.
var ErrUnsupportedDigest = errors.New("unsupported digest")

// digestAlgorithms are the algorithms the OCI image spec registers for blobs.
var digestAlgorithms = map[string]func() hash.Hash{
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// digest is a parsed "<algorithm>:<encoded>" with the hash that computes it.
type digest struct {
	algorithm, encoded string
	newHash            func() hash.Hash
}

// parseDigest checks that s names a known algorithm and a lowercase hex value of its length.
// The encoded part becomes a file name in the archive, so nothing else may pass.
func parseDigest(s string) (digest, error) {
	algorithm, encoded, ok := strings.Cut(s, ":")
	if !ok {
		return digest{}, fmt.Errorf("digest %q has no algorithm: %w", s, ErrUnsupportedDigest)
	}
	newHash, known := digestAlgorithms[algorithm]
	if !known {
		return digest{}, fmt.Errorf("digest %q: algorithm %q is none of sha256 and sha512: %w", s, algorithm, ErrUnsupportedDigest)
	}
	if len(encoded) != newHash().Size()*2 || strings.ToLower(encoded) != encoded {
		return digest{}, fmt.Errorf("digest %q is not %d lowercase hex digits: %w", s, newHash().Size()*2, ErrUnsupportedDigest)
	}
	if _, err := hex.DecodeString(encoded); err != nil {
		return digest{}, fmt.Errorf("digest %q is not hex: %w", s, ErrUnsupportedDigest)
	}
	return digest{algorithm: algorithm, encoded: encoded, newHash: newHash}, nil
}

func (d digest) String() string { return d.algorithm + ":" + d.encoded }

// blobPath is where an image layout keeps the blob of d.
func (d digest) blobPath() string { return "blobs/" + d.algorithm + "/" + d.encoded }

// sum is the digest, with d's algorithm, of what h has hashed.
func (d digest) sum(h hash.Hash) string { return d.algorithm + ":" + hex.EncodeToString(h.Sum(nil)) }
