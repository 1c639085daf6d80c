package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/oci"
)

// TestImageOfTheOperator cross-compiles the operator for both platforms, builds the archive and
// reads it back as a runtime would: every blob matches its digest, the index names one image per
// platform, each runs /redis-operator as a numeric non-root user with the OCI labels, and its
// layer holds a binary for its platform.
func TestImageOfTheOperator(t *testing.T) {
	dir := t.TempDir()
	labels := map[string]string{"org.opencontainers.image.version": "v1.2.3",
		"org.opencontainers.image.revision": "0123abc", "org.opencontainers.image.source": "example/redis-operator"}
	b := blobs{}
	var manifests []oci.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join(dir, arch)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "redis-operator/cmd/redis-operator")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		binary, err := os.ReadFile(bin)
		require.NoError(t, err)
		desc, err := image(b, arch, binary, labels)
		require.NoError(t, err)
		manifests = append(manifests, desc)
	}
	index, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": oci.MediaIndex, "manifests": manifests})
	top := b.add(oci.MediaIndex, index)
	top.Annotations = map[string]string{"org.opencontainers.image.ref.name": "v1.2.3"}
	layoutIndex, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": oci.MediaIndex, "manifests": []oci.Descriptor{top}})
	path := filepath.Join(dir, "image.oci.tar")
	require.NoError(t, archive(path, b, layoutIndex))

	files := readTar(t, path)
	require.JSONEq(t, `{"imageLayoutVersion":"1.0.0"}`, string(files["oci-layout"]))
	blob := func(d oci.Descriptor) []byte {
		content, ok := files["blobs/sha256/"+d.Digest[len("sha256:"):]]
		require.True(t, ok, "blob %s is in the archive", d.Digest)
		sum := sha256.Sum256(content)
		require.Equal(t, d.Digest, "sha256:"+hex.EncodeToString(sum[:]), "the blob matches its digest")
		require.EqualValues(t, d.Size, len(content))
		return content
	}
	var layout struct{ Manifests []oci.Descriptor }
	require.NoError(t, json.Unmarshal(files["index.json"], &layout))
	require.Len(t, layout.Manifests, 1)
	require.Equal(t, oci.MediaIndex, layout.Manifests[0].MediaType)
	require.Equal(t, "v1.2.3", layout.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
	var multi struct{ Manifests []oci.Descriptor }
	require.NoError(t, json.Unmarshal(blob(layout.Manifests[0]), &multi))
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	var archs []string
	for _, m := range multi.Manifests {
		require.Equal(t, "linux", m.Platform.OS)
		archs = append(archs, m.Platform.Architecture)
		var manifest struct {
			Config oci.Descriptor
			Layers []oci.Descriptor
		}
		require.NoError(t, json.Unmarshal(blob(m), &manifest))
		var config struct {
			Architecture, OS string
			Config           struct {
				User       string
				Entrypoint []string
				Labels     map[string]string
			}
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			}
		}
		require.NoError(t, json.Unmarshal(blob(manifest.Config), &config))
		require.Equal(t, m.Platform.Architecture, config.Architecture)
		require.Equal(t, "65532:65532", config.Config.User, "a numeric non-root user")
		require.Equal(t, []string{"/redis-operator"}, config.Config.Entrypoint)
		require.Equal(t, labels["org.opencontainers.image.source"], config.Config.Labels["org.opencontainers.image.source"])
		require.Equal(t, "v1.2.3", config.Config.Labels["org.opencontainers.image.version"])
		require.Equal(t, "0123abc", config.Config.Labels["org.opencontainers.image.revision"])
		require.Len(t, manifest.Layers, 1)
		layerTar := gunzip(t, blob(manifest.Layers[0]))
		sum := sha256.Sum256(layerTar)
		require.Equal(t, []string{"sha256:" + hex.EncodeToString(sum[:])}, config.RootFS.DiffIDs)
		inLayer := readTarBytes(t, layerTar)
		binary, ok := inLayer["redis-operator"]
		require.True(t, ok, "the layer holds /redis-operator")
		exe, err := elf.NewFile(bytes.NewReader(binary))
		require.NoError(t, err)
		require.Equal(t, machines[m.Platform.Architecture], exe.Machine)
	}
	require.ElementsMatch(t, []string{"amd64", "arm64"}, archs)
}

// TestArchiveReadsBack writes an archive and reads it with pkg/oci's reader, as imagepush and the
// sandbox do: what imagebuild writes is what they read.
func TestArchiveReadsBack(t *testing.T) {
	b := blobs{}
	binary := []byte("a stand-in for the operator's binary")
	desc, err := image(b, "amd64", binary, map[string]string{"org.opencontainers.image.version": "v1"})
	require.NoError(t, err)
	index, _ := json.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaIndex, Manifests: []oci.Descriptor{desc}})
	top := b.add(oci.MediaIndex, index)
	layoutIndex, _ := json.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaIndex, Manifests: []oci.Descriptor{top}})
	path := filepath.Join(t.TempDir(), "image.oci.tar")
	require.NoError(t, archive(path, b, layoutIndex))

	a, err := oci.OpenArchive(path)
	require.NoError(t, err)
	defer a.Close()
	layout, err := a.Index()
	require.NoError(t, err)
	require.Equal(t, []oci.Descriptor{top}, layout.Manifests)
	var multi oci.Index
	require.NoError(t, a.DecodeJSON(top, &multi))
	require.Equal(t, []oci.Descriptor{desc}, multi.Manifests)
	var manifest oci.Manifest
	require.NoError(t, a.DecodeJSON(desc, &manifest))
	var config struct{ Config struct{ Entrypoint []string } }
	require.NoError(t, a.DecodeJSON(manifest.Config, &config))
	require.Equal(t, []string{"/redis-operator"}, config.Config.Entrypoint)
	require.Len(t, manifest.Layers, 1)
	var inLayer map[string][]byte
	require.NoError(t, a.ReadBlob(manifest.Layers[0], func(r io.Reader) error {
		compressed, err := io.ReadAll(r)
		if err == nil {
			inLayer = readTarBytes(t, gunzip(t, compressed))
		}
		return err
	}))
	require.Equal(t, binary, inLayer["redis-operator"])
}

func readTar(t *testing.T, path string) map[string][]byte {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return readTarBytes(t, raw)
}

func readTarBytes(t *testing.T, raw []byte) map[string][]byte {
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		if hdr.Typeflag == tar.TypeReg {
			content, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[hdr.Name] = content
		}
	}
}

func gunzip(t *testing.T, raw []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}
