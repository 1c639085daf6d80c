// Command imagebuild writes the operator's container image as an OCI image layout in a tar (an
// index over one image per platform, each a single layer holding the static binary), with no
// container runtime: docker load, podman load and crane push take the archive.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"redis-operator/pkg/oci"
)

// user is the numeric non-root user the operator runs as (distroless' "nonroot").
const user = "65532:65532"

// entrypoint is where the binary lies in the image.
const entrypoint = "/redis-operator"

// blobs is the content of an OCI layout's blobs/sha256 folder.
type blobs map[string][]byte

func (b blobs) add(mediaType string, content []byte) oci.Descriptor {
	sum := sha256.Sum256(content)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	b[digest] = content
	return oci.Descriptor{MediaType: mediaType, Digest: digest, Size: int64(len(content))}
}

// layer is a gzipped tar holding the binary at entrypoint, owned by user, with a fixed time so
// that the same binary gives the same digest.
func layer(binary []byte) (compressed, diffID []byte, err error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	hdr := &tar.Header{Name: strings.TrimPrefix(entrypoint, "/"), Mode: 0o555, Size: int64(len(binary)),
		Uid: 65532, Gid: 65532, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	return gz.Bytes(), sum[:], nil
}

// image adds one platform's image to b and returns its manifest's descriptor.
func image(b blobs, arch string, binary []byte, labels map[string]string) (oci.Descriptor, error) {
	compressed, diffID, err := layer(binary)
	if err != nil {
		return oci.Descriptor{}, err
	}
	layerDesc := b.add(oci.MediaLayerGzip, compressed)
	config, _ := json.Marshal(map[string]interface{}{
		"architecture": arch, "os": "linux", "created": time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config": map[string]interface{}{
			"User": user, "Entrypoint": []string{entrypoint}, "Labels": labels,
			"Env": []string{"PATH=/"},
		},
		"rootfs": map[string]interface{}{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID)}},
	})
	configDesc := b.add(oci.MediaConfig, config)
	manifest, _ := json.Marshal(map[string]interface{}{
		"schemaVersion": 2, "mediaType": oci.MediaManifest, "config": configDesc, "layers": []oci.Descriptor{layerDesc},
		"annotations": labels,
	})
	desc := b.add(oci.MediaManifest, manifest)
	desc.Platform = &oci.Platform{Architecture: arch, OS: "linux"}
	return desc, nil
}

// archive writes the layout (oci-layout, index.json, blobs) as a tar.
func archive(path string, b blobs, index []byte) error {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": index}
	for digest, content := range b {
		files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")] = content
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

func main() {
	out := flag.String("out", "bin/redis-operator.oci.tar", "The archive to write.")
	version := flag.String("version", "dev", "Version label and tag.")
	revision := flag.String("revision", "", "Source revision label.")
	source := flag.String("source", "", "Source repository label.")
	name := flag.String("name", "redis-operator", "Image name for the tag (org.opencontainers.image.ref.name is the tag).")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: imagebuild [flags] ARCH=BINARY ... (for example amd64=bin/image/redis-operator-linux-amd64)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	labels := map[string]string{"org.opencontainers.image.version": *version, "org.opencontainers.image.title": "redis-operator"}
	if *revision != "" {
		labels["org.opencontainers.image.revision"] = *revision
	}
	if *source != "" {
		labels["org.opencontainers.image.source"] = *source
	}
	b := blobs{}
	var manifests []oci.Descriptor
	for _, arg := range flag.Args() {
		arch, path, ok := strings.Cut(arg, "=")
		binary, err := os.ReadFile(path)
		if !ok || err != nil {
			fmt.Fprintf(os.Stderr, "imagebuild: %q: want ARCH=BINARY of a readable file (%v)\n", arg, err)
			os.Exit(2)
		}
		desc, err := image(b, arch, binary, labels)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagebuild:", err)
			os.Exit(1)
		}
		manifests = append(manifests, desc)
	}
	index, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": oci.MediaIndex, "manifests": manifests})
	// The layout's index.json names the multi-platform index, tagged for docker and podman load.
	top := b.add(oci.MediaIndex, index)
	top.Annotations = map[string]string{"org.opencontainers.image.ref.name": *version,
		"io.containerd.image.name": *name + ":" + *version}
	layoutIndex, _ := json.Marshal(map[string]interface{}{"schemaVersion": 2, "mediaType": oci.MediaIndex, "manifests": []oci.Descriptor{top}})
	if err := archive(*out, b, layoutIndex); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s\n", *out, top.Digest)
}
