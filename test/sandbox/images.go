package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"redis-operator/pkg/oci"
)

// The sandbox has no registry. A container's image is looked up among the OCI image archives
// (*.oci.tar, an OCI image layout in a tar, as `make image` writes) in one folder, the
// repository's bin/ unless told otherwise:
//
//   - an archive serves the images its index.json names: io.containerd.image.name
//     ("redis-operator:v1.2.3"), or the archive's file name with the tag in
//     org.opencontainers.image.ref.name;
//   - a reference matches by its last path component and tag ("example/redis-operator:v1.2.3"
//     matches "redis-operator:v1.2.3"), or by digest when it has one;
//   - a reference whose name matches but whose tag no archive has runs the newest archive of
//     that name: the project's chart names its appVersion while `make image` tags the build with
//     `git describe`, and the sandbox runs what was just built. The Pulled event says which.
//
// An image no archive names is not an image container: its command runs on the host as before.

// Names the sandbox reads from an image archive's index.
const (
	annotationImage    = "io.containerd.image.name"
	imageArchiveSuffix = ".oci.tar"
)

// imageConfig is the part of an image's configuration a container runs with.
type imageConfig struct {
	User       string   `json:"User"`
	Entrypoint []string `json:"Entrypoint"`
	Cmd        []string `json:"Cmd"`
	Env        []string `json:"Env"`
	WorkingDir string   `json:"WorkingDir"`
}

// imageRef is a parsed image reference: the last component of its repository, its tag and its
// digest, either of which may be empty.
type imageRef struct {
	name, tag, digest string
}

func parseImageRef(ref string) imageRef {
	var r imageRef
	ref, r.digest, _ = strings.Cut(ref, "@")
	repo := ref
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		repo, r.tag = ref[:i], ref[i+1:]
	}
	r.name = repo[strings.LastIndexByte(repo, '/')+1:]
	if r.tag == "" && r.digest == "" {
		r.tag = "latest"
	}
	return r
}

// archivedImage is one image an archive's index.json names.
type archivedImage struct {
	archive  string
	modTime  time.Time
	name     string // last component of the repository
	tag      string
	manifest oci.Descriptor // the index or manifest the entry points at
}

// resolvedImage is an image found for a reference, for this host's platform.
type resolvedImage struct {
	archivedImage
	// exact is false when the archive was taken for its name alone, its tag differing.
	exact            bool
	platformManifest oci.Descriptor // for this platform: the entry itself, or the one its index lists
	config           imageConfig
	layers           []oci.Descriptor
}

// String names the image as the archive does, with the archive's file.
func (i *resolvedImage) String() string {
	return fmt.Sprintf("%s:%s in %s", i.name, i.tag, i.archive)
}

// ID is the image's identity in container statuses: its archive and the digest of what its
// index.json names.
func (i *resolvedImage) ID() string {
	return "oci-archive:" + i.archive + "@" + i.manifest.Digest
}

// imageStore finds images in the archives of one folder. It reads an archive's index again when
// the file changes, so a `make image` while the sandbox runs is seen at the next container start.
type imageStore struct {
	dir string

	mu    sync.Mutex
	index map[string]archiveEntries // by archive path
}

type archiveEntries struct {
	size    int64
	modTime time.Time
	images  []archivedImage
	err     error
}

func newImageStore(dir string) *imageStore {
	return &imageStore{dir: dir, index: map[string]archiveEntries{}}
}

// errUnreadableArchives says no archive names the image, but some could not be read (one being
// written, say): the image may be in one of them.
var errUnreadableArchives = errors.New("unreadable image archives")

// resolve finds the image ref names for this host's platform: nil without error when no archive
// has an image of that name, nil with errUnreadableArchives when some archive could not be read
// to tell.
func (s *imageStore) resolve(ref string) (*resolvedImage, error) {
	want := parseImageRef(ref)
	candidates, unreadable := s.images(want.name)
	if len(candidates) == 0 {
		if len(unreadable) > 0 {
			return nil, fmt.Errorf("%w: %w", errUnreadableArchives, errors.Join(unreadable...))
		}
		return nil, nil
	}
	var chosen *archivedImage
	exact := false
	for i := range candidates {
		c := &candidates[i]
		if (want.digest != "" && c.manifest.Digest == want.digest) || (want.digest == "" && c.tag == want.tag) {
			chosen, exact = c, true
			break
		}
	}
	if chosen == nil && want.digest == "" {
		chosen = &candidates[0] // the newest archive of that name
	}
	if chosen == nil {
		return nil, fmt.Errorf("no archive in %s holds %s (archives of %s: %s)", s.dir, ref, want.name, describe(candidates))
	}
	img, err := chosen.forPlatform("linux", runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	img.exact = exact
	return img, nil
}

func describe(images []archivedImage) string {
	var out []string
	for _, i := range images {
		out = append(out, fmt.Sprintf("%s:%s@%s", i.name, i.tag, i.manifest.Digest))
	}
	return strings.Join(out, ", ")
}

// images are the archived images named name, newest archive first, and why archives that could
// not be read were left out: one broken archive must not stop the containers of other images.
func (s *imageStore) images(name string) ([]archivedImage, []error) {
	if s.dir == "" {
		return nil, nil
	}
	paths, err := filepath.Glob(filepath.Join(s.dir, "*"+imageArchiveSuffix))
	if err != nil {
		return nil, []error{err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []archivedImage
	var unreadable []error
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue // removed meanwhile
		}
		entries, ok := s.index[p]
		if !ok || entries.size != fi.Size() || !entries.modTime.Equal(fi.ModTime()) {
			images, err := readArchiveIndex(p, fi.ModTime())
			entries = archiveEntries{size: fi.Size(), modTime: fi.ModTime(), images: images, err: err}
			s.index[p] = entries
		}
		if entries.err != nil {
			unreadable = append(unreadable, entries.err)
			continue
		}
		for _, i := range entries.images {
			if i.name == name {
				out = append(out, i)
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].modTime.After(out[b].modTime) })
	return out, unreadable
}

// readArchiveIndex lists the images the archive's index.json names.
func readArchiveIndex(archive string, modTime time.Time) ([]archivedImage, error) {
	a, err := oci.OpenArchive(archive)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	index, err := a.Index()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", archive, err)
	}
	fileName := strings.TrimSuffix(filepath.Base(archive), imageArchiveSuffix)
	var out []archivedImage
	for _, m := range index.Manifests {
		img := archivedImage{archive: archive, modTime: modTime, manifest: m, name: fileName, tag: m.Annotations[oci.AnnotationRefName]}
		if full := m.Annotations[annotationImage]; full != "" {
			ref := parseImageRef(full)
			img.name, img.tag = ref.name, ref.tag
		}
		out = append(out, img)
	}
	return out, nil
}

// forPlatform follows the entry to the manifest of os/arch and reads its configuration.
func (a *archivedImage) forPlatform(os, arch string) (*resolvedImage, error) {
	archive, err := oci.OpenArchive(a.archive)
	if err != nil {
		return nil, err
	}
	defer archive.Close()
	readJSON := func(d oci.Descriptor, v any) error {
		if err := archive.DecodeJSON(d, v); err != nil {
			return fmt.Errorf("%s: %w", a.archive, err)
		}
		return nil
	}
	desc := a.manifest
	for depth := 0; desc.MediaType == oci.MediaIndex || desc.MediaType == oci.MediaDockerList; depth++ {
		if depth > 4 {
			return nil, fmt.Errorf("%s: indexes nested too deep", a.archive)
		}
		var index oci.Index
		if err := readJSON(desc, &index); err != nil {
			return nil, err
		}
		found := false
		var platforms []string
		for _, m := range index.Manifests {
			if m.Platform == nil {
				continue
			}
			platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
			if m.Platform.OS == os && m.Platform.Architecture == arch {
				desc, found = m, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%s:%s in %s has no image for %s/%s (only %s)", a.name, a.tag, a.archive, os, arch, strings.Join(platforms, ", "))
		}
	}
	if desc.MediaType != oci.MediaManifest && desc.MediaType != oci.MediaDockerManifest {
		return nil, fmt.Errorf("%s: %s has media type %q, not an image manifest", a.archive, desc.Digest, desc.MediaType)
	}
	var manifest oci.Manifest
	if err := readJSON(desc, &manifest); err != nil {
		return nil, err
	}
	var config struct {
		Config imageConfig `json:"config"`
	}
	if err := readJSON(manifest.Config, &config); err != nil {
		return nil, err
	}
	return &resolvedImage{archivedImage: *a, platformManifest: desc, config: config.Config, layers: manifest.Layers}, nil
}
