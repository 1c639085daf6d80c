package sandbox

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// keyVolumeRefresh is how often a running pod's Secret and ConfigMap volumes are compared with
// their objects, as a kubelet's periodic sync does (its delay is longer: up to a minute and the
// cache's time to live). A change reaches the files within this and one API read.
const keyVolumeRefresh = 2 * time.Second

// dataLink names the link a volume's files resolve through; swapping it changes them all at once.
const dataLink = "..data"

// writeVolumeFiles makes dir hold exactly files, the way a kubelet's atomic writer does: the
// files go into a new hidden folder, the dataLink link is swapped to it in one rename, and each
// top-level name is a link through dataLink. A process reading several files sees them all old
// or all new, never a mix and never a part of one.
func writeVolumeFiles(dir string, files map[string]volumeFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.")+"*")
	if err != nil {
		return err
	}
	if err := os.Chmod(stamp, 0o755); err != nil {
		return err
	}
	top := map[string]bool{}
	for name, f := range files {
		path := filepath.Join(stamp, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(path, f.mode); err != nil { // WriteFile's mode is masked by the umask
			return err
		}
		top[strings.Split(filepath.ToSlash(name), "/")[0]] = true
	}
	if err := replaceLink(dir, dataLink, filepath.Base(stamp)); err != nil {
		return err
	}
	for name := range top {
		if err := replaceLink(dir, name, filepath.Join(dataLink, name)); err != nil {
			return err
		}
	}
	// Names removed from the object disappear from the volume, and so do earlier folders.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == dataLink || name == filepath.Base(stamp) || top[name]:
		default:
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// replaceLink makes dir/name a symbolic link to target, replacing whatever was there in one
// rename.
func replaceLink(dir, name, target string) error {
	if current, err := os.Readlink(filepath.Join(dir, name)); err == nil && current == target {
		return nil
	}
	tmp := filepath.Join(dir, "..tmp_"+name)
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if info, err := os.Lstat(filepath.Join(dir, name)); err == nil && info.IsDir() {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// refreshKeyVolumes rewrites, once every keyVolumeRefresh, the Secret and ConfigMap volumes
// whose objects changed since they were written, while the containers run. A failure keeps the
// old files and is an Event, as with a kubelet; the next round tries again.
func (r *podRunner) refreshKeyVolumes(ctx context.Context, now time.Time) {
	if now.Before(r.keyRefreshDue) {
		return
	}
	r.keyRefreshDue = now.Add(keyVolumeRefresh)
	for _, v := range r.pod.Spec.Volumes {
		written, ok := r.keyFilesWritten[v.Name]
		if !isKeyVolume(v) || !ok {
			continue
		}
		files, err := r.keyVolumeFiles(ctx, v)
		if err != nil {
			r.a.warn(ctx, r.pod, "FailedMount", fmt.Sprintf("MountVolume.SetUp failed for volume %q: %v", v.Name, err))
			continue
		}
		if maps.EqualFunc(files, written, sameFile) {
			continue
		}
		if err := r.writeKeyVolume(v.Name, files); err != nil {
			r.a.warn(ctx, r.pod, "FailedMount", fmt.Sprintf("MountVolume.SetUp failed for volume %q: %v", v.Name, err))
		}
	}
}

// writeKeyVolume writes files into the Secret or ConfigMap volume name and remembers them.
func (r *podRunner) writeKeyVolume(name string, files map[string]volumeFile) error {
	if err := writeVolumeFiles(r.volumes[name], files); err != nil {
		return err
	}
	if r.keyFilesWritten == nil {
		r.keyFilesWritten = map[string]map[string]volumeFile{}
	}
	r.keyFilesWritten[name] = files
	return nil
}

func sameFile(a, b volumeFile) bool { return a.mode == b.mode && string(a.data) == string(b.data) }
