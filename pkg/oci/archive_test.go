package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testLayout is an image layout's files, written as a tar by write.
type testLayout map[string][]byte

// addBlob stores content under the digest of algorithm and returns its descriptor.
func (l testLayout) addBlob(algorithm, mediaType string, content []byte) Descriptor {
	var sum []byte
	switch algorithm {
	case "sha256":
		s := sha256.Sum256(content)
		sum = s[:]
	case "sha512":
		s := sha512.Sum512(content)
		sum = s[:]
	}
	d := Descriptor{MediaType: mediaType, Digest: algorithm + ":" + hex.EncodeToString(sum), Size: int64(len(content))}
	l["blobs/"+algorithm+"/"+hex.EncodeToString(sum)] = content
	return d
}

func (l testLayout) write(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for name, content := range l {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(content)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	path := filepath.Join(t.TempDir(), "image.oci.tar")
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
	return path
}

// goodLayout is an image with a sha256 config and a sha512 layer, as index.json names it.
func goodLayout(t *testing.T) (l testLayout, manifest Descriptor, config, layer Descriptor) {
	l = testLayout{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	config = l.addBlob("sha256", MediaConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer = l.addBlob("sha512", MediaLayer, bytes.Repeat([]byte("layer "), 1000))
	raw, err := json.Marshal(Manifest{SchemaVersion: 2, MediaType: MediaManifest, Config: config, Layers: []Descriptor{layer}})
	require.NoError(t, err)
	manifest = l.addBlob("sha256", MediaManifest, raw)
	manifest.Annotations = map[string]string{AnnotationRefName: "v1"}
	l["index.json"], err = json.Marshal(Index{SchemaVersion: 2, MediaType: MediaIndex, Manifests: []Descriptor{manifest}})
	require.NoError(t, err)
	return l, manifest, config, layer
}

func openTestArchive(t *testing.T, l testLayout) *Archive {
	t.Helper()
	a, err := OpenArchive(l.write(t))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	return a
}

// A good archive gives its index, its manifest, config and layer, whichever algorithm names them.
func TestArchiveReadsAGoodArchive(t *testing.T) {
	l, manifestDesc, configDesc, layerDesc := goodLayout(t)
	a := openTestArchive(t, l)

	index, err := a.Index()
	require.NoError(t, err)
	require.Equal(t, []Descriptor{manifestDesc}, index.Manifests)

	var manifest Manifest
	require.NoError(t, a.DecodeJSON(index.Manifests[0], &manifest))
	require.Equal(t, configDesc, manifest.Config)
	var config struct{ Architecture string }
	require.NoError(t, a.DecodeJSON(manifest.Config, &config))
	require.Equal(t, "amd64", config.Architecture)

	layer, err := a.Blob(manifest.Layers[0])
	require.NoError(t, err)
	require.Equal(t, l["blobs/sha512/"+strings.TrimPrefix(layerDesc.Digest, "sha512:")], layer)

	// A read that stops early is still a good read.
	require.NoError(t, a.ReadBlob(layerDesc, func(r io.Reader) error {
		_, err := r.Read(make([]byte, 10))
		return err
	}))
}

// A blob whose content is not what its digest says is refused, even when the read stopped before
// the damage, and so is a blob of another size than its descriptor's.
func TestArchiveRefusesAWrongDigest(t *testing.T) {
	l, _, configDesc, layerDesc := goodLayout(t)
	layerPath := "blobs/sha512/" + strings.TrimPrefix(layerDesc.Digest, "sha512:")
	damaged := bytes.Clone(l[layerPath])
	damaged[len(damaged)-1] ^= 0xff
	l[layerPath] = damaged
	a := openTestArchive(t, l)

	_, err := a.Blob(layerDesc)
	require.ErrorIs(t, err, ErrDamaged)
	require.ErrorContains(t, err, "blob "+layerDesc.Digest+": has digest sha512:")

	err = a.ReadBlob(layerDesc, func(r io.Reader) error {
		_, err := r.Read(make([]byte, 10))
		return err
	})
	require.ErrorIs(t, err, ErrDamaged, "the part left unread is checked too")

	wrongSize := configDesc
	wrongSize.Size++
	_, err = a.Blob(wrongSize)
	require.ErrorIs(t, err, ErrDamaged)
	require.ErrorContains(t, err, "its descriptor says")
}

// A digest of an algorithm other than sha256 and sha512, or not of its algorithm's form, is not
// looked up: its blob could not be checked, and its encoded part must not become a path.
func TestArchiveRefusesAnUnknownAlgorithm(t *testing.T) {
	l, _, _, _ := goodLayout(t)
	a := openTestArchive(t, l)
	for _, digest := range []string{
		"md5:" + strings.Repeat("0", 32),
		"sha256",
		"sha256:" + strings.Repeat("0", 63),
		"sha256:" + strings.Repeat("A", 64),
		"sha256:" + strings.Repeat("g", 64),
		"sha256:../../../../../../etc/passwd" + strings.Repeat("0", 36),
	} {
		_, err := a.Blob(Descriptor{Digest: digest})
		require.ErrorIs(t, err, ErrUnsupportedDigest, digest)
	}
	_, err := a.Blob(Descriptor{Digest: "md5:" + strings.Repeat("0", 32)})
	require.ErrorContains(t, err, `algorithm "md5" is none of sha256 and sha512`)
}

// A blob the archive lacks is named as missing.
func TestArchiveReportsAMissingBlob(t *testing.T) {
	l, _, configDesc, _ := goodLayout(t)
	delete(l, "blobs/sha256/"+strings.TrimPrefix(configDesc.Digest, "sha256:"))
	a := openTestArchive(t, l)
	_, err := a.Blob(configDesc)
	require.ErrorIs(t, err, ErrNotInArchive)
	require.ErrorContains(t, err, "blob "+configDesc.Digest)
}

// Only a tar with oci-layout and index.json opens, and the error names the file.
func TestOpenArchiveRefusesOtherFiles(t *testing.T) {
	l, _, _, _ := goodLayout(t)
	delete(l, "oci-layout")
	path := l.write(t)
	_, err := OpenArchive(path)
	require.ErrorContains(t, err, path+": not an OCI image layout archive")

	path = filepath.Join(t.TempDir(), "half-written.oci.tar")
	require.NoError(t, os.WriteFile(path, []byte("not a tar"), 0o644))
	_, err = OpenArchive(path)
	require.ErrorContains(t, err, path)
}
