package sandbox

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// defaultKeyFileMode is the API's default mode of Secret and ConfigMap volume files.
const defaultKeyFileMode = 0o644

// volumeFile is one file of a Secret or ConfigMap volume.
type volumeFile struct {
	data []byte
	mode fs.FileMode
}

// keyFiles maps a Secret's or ConfigMap's keys to the files of its volume: every key, or only
// items when given. found is false when the object does not exist.
func keyFiles(data map[string][]byte, found bool, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]volumeFile, error) {
	if !found {
		if optional {
			return map[string]volumeFile{}, nil
		}
		return nil, fmt.Errorf("not found")
	}
	mode := fs.FileMode(ptr.Deref(defaultMode, defaultKeyFileMode)) & fs.ModePerm
	files := map[string]volumeFile{}
	if len(items) == 0 {
		for key, value := range data {
			files[key] = volumeFile{data: value, mode: mode}
		}
		return files, nil
	}
	for _, item := range items {
		value, ok := data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("key %q not found", item.Key)
		}
		// The API rejects such paths; the check keeps a bad one from escaping the folder.
		if !filepath.IsLocal(item.Path) {
			return nil, fmt.Errorf("item path %q is not below the volume", item.Path)
		}
		fileMode := mode
		if item.Mode != nil {
			fileMode = fs.FileMode(*item.Mode) & fs.ModePerm
		}
		files[filepath.Clean(item.Path)] = volumeFile{data: value, mode: fileMode}
	}
	return files, nil
}

// writeVolumeFiles makes dir hold exactly files. Each file is replaced by a rename, so a process
// reading it sees the old or the new content, never a part.
func writeVolumeFiles(dir string, files map[string]volumeFile) error {
	for name, f := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err != nil {
			return err
		}
		_, err = tmp.Write(f.data)
		if err == nil {
			err = tmp.Chmod(f.mode)
		}
		if closeErr := tmp.Close(); err == nil {
			err = closeErr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
	}
	// Keys removed from the object disappear from the volume, as with a kubelet.
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if _, keep := files[rel]; !keep {
			return os.Remove(path)
		}
		return nil
	})
}

// isKeyVolume reports whether the volume's files come from a Secret or ConfigMap.
func isKeyVolume(v corev1.Volume) bool { return v.Secret != nil || v.ConfigMap != nil }

// fillKeyVolume writes the current keys of the Secret or ConfigMap behind volume name into its
// folder; other volumes are left alone.
func (r *podRunner) fillKeyVolume(ctx context.Context, name string) error {
	for _, v := range r.pod.Spec.Volumes {
		if v.Name != name || !isKeyVolume(v) {
			continue
		}
		files, err := r.keyVolumeFiles(ctx, v)
		if err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err)
		}
		return writeVolumeFiles(r.volumes[v.Name], files)
	}
	return nil
}

// keyVolumeFiles reads the volume's Secret or ConfigMap from the API server.
func (r *podRunner) keyVolumeFiles(ctx context.Context, v corev1.Volume) (map[string]volumeFile, error) {
	ns := r.pod.Namespace
	if s := v.Secret; s != nil {
		secret, err := r.a.client.CoreV1().Secrets(ns).Get(ctx, s.SecretName, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		var data map[string][]byte
		if err == nil {
			data = secret.Data
		}
		files, err := keyFiles(data, err == nil, s.Items, s.DefaultMode, ptr.Deref(s.Optional, false))
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.SecretName, err)
		}
		return files, nil
	}
	c := v.ConfigMap
	cm, err := r.a.client.CoreV1().ConfigMaps(ns).Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	data := map[string][]byte{}
	if err == nil {
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
	}
	files, err := keyFiles(data, err == nil, c.Items, c.DefaultMode, ptr.Deref(c.Optional, false))
	if err != nil {
		return nil, fmt.Errorf("configmap %q: %w", c.Name, err)
	}
	return files, nil
}
