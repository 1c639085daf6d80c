package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// A Secret volume follows its Secret while the container runs, as a kubelet's does: within
// keyVolumeRefresh of the change every key changes at once (one link swapped), a key removed
// from the Secret leaves the volume, and the container is not restarted. A rotated certificate
// cannot be tested otherwise.
func TestSecretVolumeFollowsItsSecretWhileTheContainerRuns(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-0", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "wait", Command: []string{"sleep"}, Args: []string{"60"},
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "cluster-tls", DefaultMode: ptr.To[int32](0o440),
			}}}},
		},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-tls"}, Data: map[string][]byte{
		"tls.crt": []byte("cert-1"), "tls.key": []byte("key-1"), "old.pem": []byte("gone soon")}}
	r, client := testRunner(t, pod, secret)
	ctx := context.Background()
	require.NoError(t, r.prepare(ctx))
	defer r.stopAll(time.Second)
	dir := r.volumes["tls"]
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		r.step(ctx)
		return r.containers[0].proc != nil, nil
	}))
	requireFile(t, filepath.Join(dir, "tls.crt"), "cert-1", 0o440)
	before, err := os.Readlink(filepath.Join(dir, dataLink))
	require.NoError(t, err)

	secret.Data = map[string][]byte{"tls.crt": []byte("cert-2"), "tls.key": []byte("key-2")}
	_, err = client.CoreV1().Secrets("ns").Update(ctx, secret, metav1.UpdateOptions{})
	require.NoError(t, err)
	changed := time.Now()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*keyVolumeRefresh, true, func(ctx context.Context) (bool, error) {
		r.step(ctx)
		raw, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
		return err == nil && string(raw) == "cert-2", nil
	}), "the running container's volume never showed the new certificate")
	t.Logf("the volume followed the Secret %v after the change", time.Since(changed).Round(time.Millisecond))

	requireFile(t, filepath.Join(dir, "tls.key"), "key-2", 0o440)
	after, err := os.Readlink(filepath.Join(dir, dataLink))
	require.NoError(t, err)
	require.NotEqual(t, before, after, "the files changed by one swap of %s", dataLink)
	for _, name := range []string{"tls.crt", "tls.key"} {
		target, err := os.Readlink(filepath.Join(dir, name))
		require.NoError(t, err, "%s resolves through %s", name, dataLink)
		require.Equal(t, filepath.Join(dataLink, name), target)
	}
	_, err = os.Lstat(filepath.Join(dir, "old.pem"))
	require.True(t, os.IsNotExist(err), "a key removed from the Secret leaves the volume")
	_, err = os.Stat(filepath.Join(dir, before))
	require.True(t, os.IsNotExist(err), "the former files are removed")
	require.Zero(t, r.containers[0].restarts, "the container was not restarted")
	require.NotNil(t, r.containers[0].proc, "the container still runs")
}
