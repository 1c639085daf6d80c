package sandbox

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestKeyFiles(t *testing.T) {
	data := map[string][]byte{"redis.conf": []byte("maxmemory 1mb\n"), "password": []byte("s3cret")}
	cases := []struct {
		name        string
		data        map[string][]byte
		found       bool
		items       []corev1.KeyToPath
		defaultMode *int32
		optional    bool
		want        map[string]volumeFile
		wantErr     string
	}{
		{
			name: "every key at the default mode", data: data, found: true,
			want: map[string]volumeFile{
				"redis.conf": {data: data["redis.conf"], mode: 0o644},
				"password":   {data: data["password"], mode: 0o644},
			},
		},
		{
			name: "the default mode of the volume", data: data, found: true, defaultMode: ptr.To[int32](0o400),
			want: map[string]volumeFile{
				"redis.conf": {data: data["redis.conf"], mode: 0o400},
				"password":   {data: data["password"], mode: 0o400},
			},
		},
		{
			name: "items map keys to paths and modes", data: data, found: true, defaultMode: ptr.To[int32](0o440),
			items: []corev1.KeyToPath{
				{Key: "redis.conf", Path: "conf/redis.conf"},
				{Key: "password", Path: "auth", Mode: ptr.To[int32](0o600)},
			},
			want: map[string]volumeFile{
				"conf/redis.conf": {data: data["redis.conf"], mode: 0o440},
				"auth":            {data: data["password"], mode: 0o600},
			},
		},
		{
			name: "a missing item key fails", data: data, found: true,
			items:   []corev1.KeyToPath{{Key: "users.acl", Path: "users.acl"}},
			wantErr: `key "users.acl" not found`,
		},
		{
			name: "a missing item key of an optional volume is left out", data: data, found: true, optional: true,
			items: []corev1.KeyToPath{{Key: "users.acl", Path: "users.acl"}, {Key: "password", Path: "password"}},
			want:  map[string]volumeFile{"password": {data: data["password"], mode: 0o644}},
		},
		{name: "a missing object fails", wantErr: "not found"},
		{name: "a missing optional object is an empty volume", optional: true, want: map[string]volumeFile{}},
		{
			name: "an item path may not leave the volume", data: data, found: true,
			items:   []corev1.KeyToPath{{Key: "password", Path: "../password"}},
			wantErr: "not below the volume",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keyFiles(tc.data, tc.found, tc.items, tc.defaultMode, tc.optional)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestWriteVolumeFilesReplacesAndPrunes(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, writeVolumeFiles(dir, map[string]volumeFile{
		"redis.conf":   {data: []byte("a"), mode: 0o644},
		"sub/password": {data: []byte("p"), mode: 0o600},
	}))
	requireFile(t, filepath.Join(dir, "redis.conf"), "a", 0o644)
	requireFile(t, filepath.Join(dir, "sub", "password"), "p", 0o600)

	require.NoError(t, writeVolumeFiles(dir, map[string]volumeFile{"redis.conf": {data: []byte("b"), mode: 0o400}}))
	requireFile(t, filepath.Join(dir, "redis.conf"), "b", 0o400)
	_, err := os.Stat(filepath.Join(dir, "sub", "password"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a key gone from the object is gone from the volume")
	stamp, err := os.Readlink(filepath.Join(dir, dataLink))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{dataLink, stamp, "redis.conf"}, names, "no temporary file or former folder is left")
}

func requireFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, content, string(raw))
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, mode, info.Mode().Perm())
}

// testRunner is a pod runner of pod on a fake API server holding objs.
func testRunner(t *testing.T, pod *corev1.Pod, objs ...interface{ GetName() string }) (*podRunner, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(pod)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Secret:
			_, err = client.CoreV1().Secrets(pod.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = client.CoreV1().ConfigMaps(pod.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		}
		require.NoError(t, err)
	}
	a := newAgent(client, nodeInfo{name: "node-1", address: "127.0.0.1"}, t.TempDir(), newImageStore(""))
	return newPodRunner(a, pod, "127.0.0.1"), client
}

func TestContainerEnvOptionalKeys(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "config"}, Data: map[string][]byte{"password": []byte("pw")}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "fast"}}
	r, _ := testRunner(t, pod, secret, cm)
	secretKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional),
		}}
	}
	configKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional),
		}}
	}
	vars, err := r.containerEnv(context.Background(), corev1.Container{Env: []corev1.EnvVar{
		{Name: "PASSWORD", ValueFrom: secretKey("config", "password", true)},
		{Name: "NO_KEY", ValueFrom: secretKey("config", "user", true)},
		{Name: "NO_SECRET", ValueFrom: secretKey("other", "password", true)},
		{Name: "MODE", ValueFrom: configKey("settings", "mode", false)},
		{Name: "NO_CM_KEY", ValueFrom: configKey("settings", "level", true)},
		{Name: "NO_CM", ValueFrom: configKey("other", "mode", true)},
	}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"PASSWORD": "pw", "MODE": "fast"}, vars)

	for _, src := range []*corev1.EnvVarSource{
		secretKey("config", "user", false), secretKey("other", "password", false),
		configKey("settings", "level", false), configKey("other", "mode", false),
	} {
		_, err := r.containerEnv(context.Background(), corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: src}}})
		require.Error(t, err)
	}
}

// TestRestartedContainerReadsCurrentSecret runs a container that copies a file of its Secret
// volume, named by a path below the mount as an argument, into its data volume and exits; each
// restart must copy the Secret's current value.
func TestRestartedContainerReadsCurrentSecret(t *testing.T) {
	out := t.TempDir()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-0", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "copy", Command: []string{"cp"}, Args: []string{"/etc/redis-operator/redis.conf", "/data/seen.conf"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/redis-operator", ReadOnly: true},
					{Name: "data", MountPath: "/data"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "cluster-config", DefaultMode: ptr.To[int32](0o440),
				}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}},
			},
		},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-config"}, Data: map[string][]byte{"redis.conf": []byte("v1\n")}}
	r, client := testRunner(t, pod, secret)
	ctx := context.Background()
	require.NoError(t, r.prepare(ctx))
	defer r.stopAll(time.Second)
	require.Equal(t, out, r.containers[0].cwd, "the process runs in its writable volume, not the Secret's")

	seen := filepath.Join(out, "seen.conf")
	waitContent := func(want string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			r.step(ctx)
			raw, err := os.ReadFile(seen)
			return err == nil && string(raw) == want, nil
		})
		if err != nil {
			raw, _ := os.ReadFile(seen)
			t.Fatalf("%s holds %q, want %q", seen, raw, want)
		}
	}
	waitContent("v1\n")
	requireFile(t, filepath.Join(r.volumes["config"], "redis.conf"), "v1\n", 0o440)

	secret.Data = map[string][]byte{"redis.conf": []byte("v2\n"), "password": []byte("pw")}
	_, err := client.CoreV1().Secrets("ns").Update(ctx, secret, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitContent("v2\n")
	requireFile(t, filepath.Join(r.volumes["config"], "password"), "pw", 0o440)
	require.Positive(t, r.containers[0].restarts)
}

func TestMissingSecretVolumeHoldsTheContainer(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-0", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "redis", Command: []string{"true"},
				VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/redis-operator"}},
			}},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "cluster-config"},
			}}},
		},
	}
	r, client := testRunner(t, pod)
	ctx := context.Background()
	require.NoError(t, r.prepare(ctx))
	defer r.stopAll(time.Second)
	r.step(ctx)
	c := r.containers[0]
	require.Nil(t, c.proc)
	require.NotNil(t, c.waiting)
	require.Equal(t, "ContainerCreating", c.waiting.Reason)
	require.Contains(t, c.waiting.Message, `secret "cluster-config": not found`)
	status := r.status()
	require.Equal(t, corev1.PodPending, status.Phase)
	require.Equal(t, c.waiting, status.ContainerStatuses[0].State.Waiting)
	events, err := client.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, events.Items, 1)
	require.Equal(t, "FailedMount", events.Items[0].Reason)

	_, err = client.CoreV1().Secrets("ns").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-config"}, Data: map[string][]byte{"redis.conf": nil},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	c.nextStart = time.Now()
	r.step(ctx)
	require.Nil(t, c.waiting)
	require.NotNil(t, c.proc, "the container starts once its Secret exists")
}
