package sandbox

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"redis-operator/pkg/oci"
)

// unpack writes the image's layers, in order, into the empty folder rootfs. Entries are written
// through an os.Root, so none can land outside it, whatever its path or the symbolic links
// before it; owners are set when the sandbox runs as root.
func (i *resolvedImage) unpack(rootfs string) error {
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	archive, err := oci.OpenArchive(i.archive)
	if err != nil {
		return fmt.Errorf("unpacking %s: %w", i, err)
	}
	defer archive.Close()
	for _, layer := range i.layers {
		err := archive.ReadBlob(layer, func(r io.Reader) error {
			switch layer.MediaType {
			case oci.MediaLayerGzip, oci.MediaDockerLayer:
				zr, err := gzip.NewReader(r)
				if err != nil {
					return err
				}
				defer zr.Close()
				return applyLayer(root, zr)
			case oci.MediaLayer:
				return applyLayer(root, r)
			}
			return fmt.Errorf("layer %s has media type %q, which the sandbox does not unpack", layer.Digest, layer.MediaType)
		})
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", i, err)
		}
	}
	return nil
}

// applyLayer writes one layer's tar stream into root, honouring whiteouts (.wh.NAME removes
// NAME, .wh..wh..opq empties the folder). Device files are left out.
func applyLayer(root *os.Root, r io.Reader) error {
	chown := os.Geteuid() == 0
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q leaves the root", hdr.Name)
		}
		dir, base := path.Split(name)
		if dir != "" {
			if err := root.MkdirAll(path.Clean(dir), 0o755); err != nil {
				return err
			}
		}
		if base == ".wh..wh..opq" {
			if err := emptyDir(root, path.Clean("./"+dir)); err != nil {
				return err
			}
			continue
		}
		if hidden, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := root.RemoveAll(path.Join(dir, hidden)); err != nil {
				return err
			}
			continue
		}
		mode := hdr.FileInfo().Mode().Perm() | hdr.FileInfo().Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := root.Lstat(name); err != nil || !fi.IsDir() {
				_ = root.RemoveAll(name)
				if err := root.Mkdir(name, 0o755); err != nil {
					return err
				}
			}
		case tar.TypeReg:
			_ = root.RemoveAll(name)
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if closeErr := f.Close(); err == nil {
				err = closeErr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = root.RemoveAll(name)
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target := path.Clean(strings.TrimPrefix(hdr.Linkname, "/"))
			if !filepath.IsLocal(target) {
				return fmt.Errorf("hard link %q to %q leaves the root", hdr.Name, hdr.Linkname)
			}
			_ = root.RemoveAll(name)
			if err := root.Link(target, name); err != nil {
				return err
			}
		default:
			continue // devices and fifos: a container gets its devices from the runtime
		}
		if hdr.Typeflag == tar.TypeLink {
			continue // the link is its target's file, owner and mode included
		}
		if chown {
			if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
				return err
			}
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := root.Chmod(name, mode); err != nil {
				return err
			}
		}
	}
}

// emptyDir removes what folder dir of root holds.
func emptyDir(root *os.Root, dir string) error {
	f, err := root.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := root.RemoveAll(path.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}
