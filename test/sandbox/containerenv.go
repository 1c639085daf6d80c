package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// debianNames are the names Debian gives the programs of images the sandbox runs from the host.
var debianNames = map[string]string{"redis_exporter": "prometheus-redis-exporter"}

// hostProgram is the host's program for a container command at an absolute path the host
// lacks (an image's /redis_exporter), found by name on PATH; cmd itself when there is none.
func hostProgram(cmd string) string {
	if _, err := exec.LookPath(cmd); err == nil || !filepath.IsAbs(cmd) {
		return cmd
	}
	name := filepath.Base(cmd)
	if debian, ok := debianNames[name]; ok {
		name = debian
	}
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	return cmd
}

// localPath maps an argument naming a mount path to the volume's local folder.
func (r *podRunner) localPath(c corev1.Container, arg string) string {
	for _, m := range c.VolumeMounts {
		local, ok := r.volumes[m.Name]
		if !ok || m.MountPath == "" {
			continue
		}
		if arg == m.MountPath {
			return local
		}
		if strings.HasPrefix(arg, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return filepath.Join(local, strings.TrimPrefix(arg, strings.TrimSuffix(m.MountPath, "/")+"/"))
		}
	}
	return arg
}

// containerEnv resolves a container's environment, downward API fields and secret and config
// map keys included, expanding $(VAR) references to earlier variables. An optional key whose
// object or key is missing leaves its variable unset.
func (r *podRunner) containerEnv(ctx context.Context, c corev1.Container) (map[string]string, error) {
	vars := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = expand(e.Value, vars)
		case e.ValueFrom.FieldRef != nil:
			vars[e.Name] = r.field(e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			data, found, err := r.secretData(ctx, ref.Name)
			if err == nil {
				err = keyEnv(vars, e.Name, data, found, ref.Key, ptr.Deref(ref.Optional, false))
			}
			if err != nil {
				return nil, fmt.Errorf("env %s: secret %s: %w", e.Name, ref.Name, err)
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			data, found, err := r.configMapData(ctx, ref.Name)
			if err == nil {
				err = keyEnv(vars, e.Name, data, found, ref.Key, ptr.Deref(ref.Optional, false))
			}
			if err != nil {
				return nil, fmt.Errorf("env %s: config map %s: %w", e.Name, ref.Name, err)
			}
		}
	}
	return vars, nil
}

// keyEnv sets the variable name to key of an object's data, as a kubelet does: a missing object
// or key is an error unless the reference is optional.
func keyEnv(vars map[string]string, name string, data map[string][]byte, found bool, key string, optional bool) error {
	value, ok := data[key]
	switch {
	case ok:
		vars[name] = string(value)
	case optional:
	case !found:
		return errors.New("not found")
	default:
		return fmt.Errorf("key %s not found", key)
	}
	return nil
}

func (r *podRunner) field(path string) string {
	switch path {
	case "metadata.name":
		return r.pod.Name
	case "metadata.namespace":
		return r.pod.Namespace
	case "metadata.uid":
		return string(r.pod.UID)
	case "spec.nodeName":
		return r.a.node.name
	case "status.podIP", "status.podIPs":
		return r.podIP
	case "status.hostIP", "status.hostIPs":
		return r.a.node.address
	case "spec.serviceAccountName":
		return r.pod.Spec.ServiceAccountName
	}
	return ""
}

// expand replaces $(NAME) with defined variables; $$ escapes a dollar; other text stays.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i+1] == '(' {
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := vars[name]; ok {
					b.WriteString(v)
					i += end + 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
