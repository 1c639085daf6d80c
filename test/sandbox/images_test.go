package sandbox

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/oci"
)

// tarEntry is one entry of a test layer.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func layerOf(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		typ, mode := e.typ, e.mode
		if typ == 0 {
			typ = tar.TypeReg
		}
		if mode == 0 {
			mode = 0o644
		}
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Size: int64(len(e.body)),
			Linkname: e.link, Uid: 65532, Gid: 65532, ModTime: time.Unix(0, 0)}))
		_, err := tw.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(raw.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return gz.Bytes()
}

// testArchive builds an OCI image layout in a tar as `make image` does: index.json names one
// index over an image per architecture, each of the given layers with config.
type testArchive struct {
	blobs map[string][]byte
}

func (a *testArchive) add(content []byte) oci.Descriptor {
	if a.blobs == nil {
		a.blobs = map[string][]byte{}
	}
	sum := sha256.Sum256(content)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	a.blobs[digest] = content
	return oci.Descriptor{Digest: digest, Size: int64(len(content))}
}

func (a *testArchive) addJSON(t *testing.T, mediaType string, v interface{}) oci.Descriptor {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	d := a.add(raw)
	d.MediaType = mediaType
	return d
}

// image adds one image and returns its manifest's descriptor for arch.
func (a *testArchive) image(t *testing.T, arch string, config imageConfig, layers ...[]byte) oci.Descriptor {
	t.Helper()
	var layerDescs []oci.Descriptor
	for _, l := range layers {
		d := a.add(l)
		d.MediaType = oci.MediaLayerGzip
		layerDescs = append(layerDescs, d)
	}
	configDesc := a.addJSON(t, "application/vnd.oci.image.config.v1+json", map[string]interface{}{
		"architecture": arch, "os": "linux", "config": config,
	})
	m := a.addJSON(t, oci.MediaManifest, map[string]interface{}{
		"schemaVersion": 2, "mediaType": oci.MediaManifest, "config": configDesc, "layers": layerDescs,
	})
	m.Platform = &oci.Platform{Architecture: arch, OS: "linux"}
	return m
}

// write writes the layout with one index over manifests, named name:tag, to path.
func (a *testArchive) write(t *testing.T, path, name, tag string, manifests ...oci.Descriptor) oci.Descriptor {
	t.Helper()
	top := a.addJSON(t, oci.MediaIndex, map[string]interface{}{"schemaVersion": 2, "mediaType": oci.MediaIndex, "manifests": manifests})
	top.Annotations = map[string]string{oci.AnnotationRefName: tag, annotationImage: name + ":" + tag}
	index, err := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": oci.MediaIndex, "manifests": []oci.Descriptor{top}})
	require.NoError(t, err)
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	for digest, content := range a.blobs {
		files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")] = content
	}
	files["index.json"] = index // last, as a sorted archive has it
	for name, content := range files {
		if name == "index.json" {
			continue
		}
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}))
		_, err := tw.Write(content)
		require.NoError(t, err)
	}
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "index.json", Mode: 0o644, Size: int64(len(index))}))
	_, err = tw.Write(index)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
	return top
}

func TestParseImageRef(t *testing.T) {
	cases := map[string]imageRef{
		"redis-operator:0.1.0":                      {name: "redis-operator", tag: "0.1.0"},
		"redis-operator":                            {name: "redis-operator", tag: "latest"},
		"example/team/redis-operator:v1":            {name: "redis-operator", tag: "v1"},
		"registry:5000/redis-operator":              {name: "redis-operator", tag: "latest"},
		"registry:5000/redis-operator:v2":           {name: "redis-operator", tag: "v2"},
		"redis-operator@sha256:abc":                 {name: "redis-operator", digest: "sha256:abc"},
		"example/redis-operator:v3@sha256:abc":      {name: "redis-operator", tag: "v3", digest: "sha256:abc"},
		"awbrg789/redis:latest":                     {name: "redis", tag: "latest"},
		"oliver006/redis_exporter":                  {name: "redis_exporter", tag: "latest"},
		"redis-operator:4638cf9-dirty":              {name: "redis-operator", tag: "4638cf9-dirty"},
		"localhost/redis-operator:with.dots-and_un": {name: "redis-operator", tag: "with.dots-and_un"},
	}
	for ref, want := range cases {
		require.Equal(t, want, parseImageRef(ref), ref)
	}
}

// An archive serves its own name and tag exactly, its digest, and any other tag of its name from
// the newest archive; other names are not images of the sandbox, and a digest must match.
func TestImageStoreResolves(t *testing.T) {
	dir := t.TempDir()
	config := imageConfig{User: "65532:65532", Entrypoint: []string{"/redis-operator"}, Env: []string{"PATH=/"}}
	layer := layerOf(t, tarEntry{name: "redis-operator", body: "binary", mode: 0o555})

	var old testArchive
	oldTop := old.write(t, filepath.Join(dir, "old.oci.tar"), "redis-operator", "v1",
		old.image(t, "amd64", config, layer), old.image(t, "arm64", config, layer))
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "old.oci.tar"), past, past))
	var cur testArchive
	curTop := cur.write(t, filepath.Join(dir, "redis-operator.oci.tar"), "redis-operator", "4638cf9",
		cur.image(t, "amd64", config, layer), cur.image(t, "arm64", config, layer))

	store := newImageStore(dir)
	for _, tc := range []struct {
		ref, digest string
		exact       bool
	}{
		{"redis-operator:v1", oldTop.Digest, true},
		{"example/redis-operator:4638cf9", curTop.Digest, true},
		{"redis-operator:0.1.0", curTop.Digest, false},
		{"redis-operator", curTop.Digest, false},
		{"redis-operator@" + oldTop.Digest, oldTop.Digest, true},
	} {
		img, err := store.resolve(tc.ref)
		require.NoError(t, err, tc.ref)
		require.NotNil(t, img, tc.ref)
		require.Equal(t, tc.digest, img.manifest.Digest, tc.ref)
		require.Equal(t, tc.exact, img.exact, tc.ref)
		require.Equal(t, config.Entrypoint, img.config.Entrypoint)
		require.Equal(t, "65532:65532", img.config.User)
		require.Len(t, img.layers, 1)
	}

	img, err := store.resolve("awbrg789/redis:latest")
	require.NoError(t, err)
	require.Nil(t, img, "no archive is named redis")

	_, err = store.resolve("redis-operator@sha256:" + strings.Repeat("0", 64))
	require.ErrorContains(t, err, "no archive")

	// The manifest for this host's architecture, and none when the archive has no such image.
	img, err = store.resolve("redis-operator:4638cf9")
	require.NoError(t, err)
	archive, err := oci.OpenArchive(img.archive)
	require.NoError(t, err)
	defer archive.Close()
	var manifest oci.Manifest
	require.NoError(t, archive.DecodeJSON(img.platformManifest, &manifest))
	var cfg struct{ Architecture string }
	require.NoError(t, archive.DecodeJSON(manifest.Config, &cfg))
	require.Equal(t, runtime.GOARCH, cfg.Architecture)

	var other testArchive
	other.write(t, filepath.Join(dir, "exotic.oci.tar"), "exotic", "v1", other.image(t, "s390x", config, layer))
	_, err = store.resolve("exotic:v1")
	require.ErrorContains(t, err, "no image for linux/"+runtime.GOARCH)
}

// Layers apply in order with their whiteouts, and nothing lands outside the root file system.
func TestUnpackLayers(t *testing.T) {
	dir := t.TempDir()
	var a testArchive
	first := layerOf(t,
		tarEntry{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "bin/tool", body: "v1", mode: 0o755},
		tarEntry{name: "etc/gone", body: "x"},
		tarEntry{name: "etc/cleared/a", body: "x"},
		tarEntry{name: "usr/local", typ: tar.TypeSymlink, link: "../bin"},
	)
	second := layerOf(t,
		tarEntry{name: "bin/tool", body: "v2", mode: 0o755},
		tarEntry{name: "etc/.wh.gone"},
		tarEntry{name: "etc/cleared/.wh..wh..opq"},
		tarEntry{name: "etc/cleared/b", body: "kept"},
		tarEntry{name: "bin/tool-link", typ: tar.TypeLink, link: "bin/tool"},
	)
	a.write(t, filepath.Join(dir, "img.oci.tar"), "img", "v1", a.image(t, runtime.GOARCH, imageConfig{}, first, second))
	img, err := newImageStore(dir).resolve("img:v1")
	require.NoError(t, err)
	rootfs := filepath.Join(dir, "rootfs")
	require.NoError(t, img.unpack(rootfs))
	read := func(p string) string {
		raw, err := os.ReadFile(filepath.Join(rootfs, p))
		require.NoError(t, err, p)
		return string(raw)
	}
	require.Equal(t, "v2", read("bin/tool"))
	require.Equal(t, "v2", read("bin/tool-link"))
	require.Equal(t, "kept", read("etc/cleared/b"))
	require.NoFileExists(t, filepath.Join(rootfs, "etc/gone"))
	require.NoFileExists(t, filepath.Join(rootfs, "etc/cleared/a"))
	fi, err := os.Stat(filepath.Join(rootfs, "bin/tool"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	if os.Geteuid() == 0 {
		require.EqualValues(t, 65532, fi.Sys().(*syscall.Stat_t).Uid)
	}

	for name, layer := range map[string][]byte{
		"a path up":              layerOf(t, tarEntry{name: "../escape", body: "x"}),
		"a link out, then in it": layerOf(t, tarEntry{name: "out", typ: tar.TypeSymlink, link: dir}, tarEntry{name: "out/escape", body: "x"}),
		"a hard link out":        layerOf(t, tarEntry{name: "passwd", typ: tar.TypeLink, link: "../../etc/passwd"}),
	} {
		var bad testArchive
		path := filepath.Join(dir, "bad.oci.tar")
		bad.write(t, path, "bad", "v1", bad.image(t, runtime.GOARCH, imageConfig{}, layer))
		img, err := newImageStore(dir).resolve("bad:v1")
		require.NoError(t, err, name)
		require.Error(t, img.unpack(filepath.Join(dir, "bad-rootfs")), name)
		require.NoFileExists(t, filepath.Join(dir, "escape"), name)
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "bad-rootfs")))
	}
}

// A blob whose content does not match its digest is refused.
func TestUnpackChecksDigests(t *testing.T) {
	dir := t.TempDir()
	var a testArchive
	layer := layerOf(t, tarEntry{name: "file", body: "x"})
	m := a.image(t, runtime.GOARCH, imageConfig{}, layer)
	for digest, content := range a.blobs {
		if bytes.Equal(content, layer) {
			tampered := append([]byte(nil), content...)
			tampered[len(tampered)-1] ^= 0xff
			a.blobs[digest] = tampered
		}
	}
	a.write(t, filepath.Join(dir, "img.oci.tar"), "img", "v1", m)
	img, err := newImageStore(dir).resolve("img:v1")
	require.NoError(t, err)
	require.Error(t, img.unpack(filepath.Join(dir, "rootfs")))
}

// An archive that cannot be read (one being written) hides no other archive's images, and is
// named when no readable archive has the image.
func TestImageStoreSkipsUnreadableArchives(t *testing.T) {
	dir := t.TempDir()
	var a testArchive
	a.write(t, filepath.Join(dir, "good.oci.tar"), "good", "v1",
		a.image(t, runtime.GOARCH, imageConfig{}, layerOf(t, tarEntry{name: "f", body: "x"})))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "half-written.oci.tar"), []byte("not a tar"), 0o644))
	store := newImageStore(dir)
	img, err := store.resolve("good:v1")
	require.NoError(t, err)
	require.NotNil(t, img)
	img, err = store.resolve("other:v1")
	require.Nil(t, img)
	require.ErrorIs(t, err, errUnreadableArchives)
	require.ErrorContains(t, err, "half-written.oci.tar")
}
