package sandbox

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
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
		return r.writeKeyVolume(v.Name, files)
	}
	return nil
}

// keyVolumeFiles reads the volume's Secret or ConfigMap from the API server.
func (r *podRunner) keyVolumeFiles(ctx context.Context, v corev1.Volume) (map[string]volumeFile, error) {
	if s := v.Secret; s != nil {
		data, found, err := r.secretData(ctx, s.SecretName)
		if err != nil {
			return nil, err
		}
		files, err := keyFiles(data, found, s.Items, s.DefaultMode, ptr.Deref(s.Optional, false))
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.SecretName, err)
		}
		return files, nil
	}
	c := v.ConfigMap
	data, found, err := r.configMapData(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	files, err := keyFiles(data, found, c.Items, c.DefaultMode, ptr.Deref(c.Optional, false))
	if err != nil {
		return nil, fmt.Errorf("configmap %q: %w", c.Name, err)
	}
	return files, nil
}

// secretData is the data of the Secret name in the pod's namespace; found is false when there
// is none.
func (r *podRunner) secretData(ctx context.Context, name string) (data map[string][]byte, found bool, err error) {
	secret, err := r.a.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return secret.Data, true, nil
}

// configMapData is the data and binary data of the ConfigMap name in the pod's namespace; found
// is false when there is none.
func (r *podRunner) configMapData(ctx context.Context, name string) (data map[string][]byte, found bool, err error) {
	cm, err := r.a.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	data = map[string][]byte{}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return data, true, nil
}

// Projected volumes are filled for image containers only: a host process cannot see their mount
// path, and the kube-api-access volume every pod gets would cost the Redis pods a TokenRequest
// at each start for nothing.

// tokenRefreshShare is how much of a projected token's lifetime passes before the agent asks for
// a new one, as a kubelet does (80%), and tokenRefreshCap the longest it keeps one.
const (
	tokenRefreshShare = 0.8
	tokenRefreshCap   = 24 * time.Hour
)

// fillProjectedVolume writes the sources of projected volume name into its folder: service
// account tokens from the TokenRequest API (bound to the pod, the API server's audience unless
// the source names one), ConfigMap and Secret keys and downward API fields. Other volumes are left
// alone.
func (r *podRunner) fillProjectedVolume(ctx context.Context, name string) error {
	for _, v := range r.pod.Spec.Volumes {
		if v.Name != name || v.Projected == nil {
			continue
		}
		files, refresh, err := r.projectedFiles(ctx, v.Projected)
		if err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err)
		}
		if err := writeVolumeFiles(r.volumes[v.Name], files); err != nil {
			return err
		}
		if r.tokenRefresh == nil {
			r.tokenRefresh = map[string]time.Time{}
		}
		if refresh.IsZero() {
			delete(r.tokenRefresh, v.Name)
		} else {
			r.tokenRefresh[v.Name] = refresh
		}
		return nil
	}
	return nil
}

// refreshTokens renews the projected volumes whose tokens are due; a failure keeps the old
// token and is tried again at the next step.
func (r *podRunner) refreshTokens(ctx context.Context, now time.Time) {
	for name, due := range r.tokenRefresh {
		if now.Before(due) {
			continue
		}
		if err := r.fillProjectedVolume(ctx, name); err != nil {
			r.a.warn(ctx, r.pod, "FailedMount", err.Error())
			r.tokenRefresh[name] = now.Add(setUpRetry * 10)
		}
	}
}

// projectedFiles are the files of a projected volume and when its earliest token is due for
// renewal (zero without tokens).
func (r *podRunner) projectedFiles(ctx context.Context, p *corev1.ProjectedVolumeSource) (map[string]volumeFile, time.Time, error) {
	files := map[string]volumeFile{}
	var refresh time.Time
	mode := fs.FileMode(ptr.Deref(p.DefaultMode, defaultKeyFileMode)) & fs.ModePerm
	add := func(more map[string]volumeFile) {
		for k, f := range more {
			files[k] = f
		}
	}
	ns := r.pod.Namespace
	for _, src := range p.Sources {
		switch {
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			if !filepath.IsLocal(t.Path) {
				return nil, refresh, fmt.Errorf("token path %q is not below the volume", t.Path)
			}
			seconds := ptr.Deref(t.ExpirationSeconds, 3600)
			var audiences []string
			if t.Audience != "" {
				audiences = []string{t.Audience}
			}
			token, err := r.a.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, r.pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{
					Audiences: audiences, ExpirationSeconds: &seconds,
					BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: r.pod.Name, UID: r.pod.UID},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return nil, refresh, fmt.Errorf("requesting a token of service account %q: %w", r.pod.Spec.ServiceAccountName, err)
			}
			files[filepath.Clean(t.Path)] = volumeFile{data: []byte(token.Status.Token), mode: mode}
			due := time.Now().Add(min(time.Duration(float64(seconds)*tokenRefreshShare)*time.Second, tokenRefreshCap))
			if refresh.IsZero() || due.Before(refresh) {
				refresh = due
			}
		case src.ConfigMap != nil:
			c := src.ConfigMap
			data, found, err := r.configMapData(ctx, c.Name)
			if err != nil {
				return nil, refresh, err
			}
			more, err := keyFiles(data, found, c.Items, ptr.To(int32(mode)), ptr.Deref(c.Optional, false))
			if err != nil {
				return nil, refresh, fmt.Errorf("configmap %q: %w", c.Name, err)
			}
			add(more)
		case src.Secret != nil:
			s := src.Secret
			data, found, err := r.secretData(ctx, s.Name)
			if err != nil {
				return nil, refresh, err
			}
			more, err := keyFiles(data, found, s.Items, ptr.To(int32(mode)), ptr.Deref(s.Optional, false))
			if err != nil {
				return nil, refresh, fmt.Errorf("secret %q: %w", s.Name, err)
			}
			add(more)
		case src.DownwardAPI != nil:
			for _, item := range src.DownwardAPI.Items {
				if item.FieldRef == nil || !filepath.IsLocal(item.Path) {
					return nil, refresh, fmt.Errorf("downward API item %q: only fieldRef below the volume is supported", item.Path)
				}
				fileMode := mode
				if item.Mode != nil {
					fileMode = fs.FileMode(*item.Mode) & fs.ModePerm
				}
				files[filepath.Clean(item.Path)] = volumeFile{data: []byte(r.field(item.FieldRef.FieldPath)), mode: fileMode}
			}
		}
	}
	return files, refresh, nil
}
