package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// probeProgram reports what a container sees, one key=value a line.
const probeProgram = `package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	if os.Getenv("SLEEP") != "" {
		time.Sleep(time.Minute)
	}
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	read := func(p string) string { b, err := os.ReadFile(p); if err != nil { return "error: " + err.Error() }; return string(b) }
	_, procErr := os.Stat("/proc/self/status")
	_, hostErr := os.Stat("/work")
	fmt.Printf("uid=%d\ngid=%d\nhost=%s\nwd=%s\n", os.Getuid(), os.Getgid(), host, wd)
	fmt.Printf("token=%s\nnamespace=%s\nca=%s\nsecret=%s\n", read("/var/run/secrets/kubernetes.io/serviceaccount/token"),
		read("/var/run/secrets/kubernetes.io/serviceaccount/namespace"), read("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
		read("/etc/app/key"))
	fmt.Printf("rootWritable=%v\nsecretWritable=%v\nproc=%v\nhostVisible=%v\n", os.WriteFile("/x", nil, 0o644) == nil,
		os.WriteFile("/etc/app/x", nil, 0o644) == nil, procErr == nil, hostErr == nil)
	fmt.Printf("api=%s:%s\npodIP=%s\nimageEnv=%s\nargs=%s\n", os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"),
		os.Getenv("POD_IP"), os.Getenv("FROM_IMAGE"), strings.Join(os.Args, " "))
	_, err := os.Stat("/dev/null")
	fmt.Printf("devNull=%v\n", err == nil)
}
`

// An image container runs chrooted in its unpacked image as the pod's user, read-only, with its
// host name, its Secret volume and the projected service-account volume at the path client-go
// reads, the API server's address and the pod's env; the mounts stay in its namespace.
func TestImageContainerRunsInItsRootAsThePodsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("image containers need root (chroot, mount namespaces)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.go")
	require.NoError(t, os.WriteFile(src, []byte(probeProgram), 0o644))
	bin := filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	binary, err := os.ReadFile(bin)
	require.NoError(t, err)

	images := filepath.Join(dir, "images")
	require.NoError(t, os.MkdirAll(images, 0o755))
	var a testArchive
	config := imageConfig{User: "65532:65532", Entrypoint: []string{"/probe"}, Cmd: []string{"--default"},
		Env: []string{"PATH=/", "FROM_IMAGE=yes"}}
	a.write(t, filepath.Join(images, "probe.oci.tar"), "probe", "v1",
		a.image(t, runtime.GOARCH, config, layerOf(t, tarEntry{name: "probe", body: string(binary), mode: 0o555})))

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-7f9c", Namespace: "ops", UID: "uid-1"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "probe",
			SecurityContext:    &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1234), RunAsGroup: ptr.To[int64](2345), RunAsNonRoot: ptr.To(true)},
			Containers: []corev1.Container{{
				Name: "probe", Image: "example/probe:0.1.0", Args: []string{"--pod=$(POD_NAME)"},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "app", MountPath: "/etc/app", ReadOnly: true},
					{Name: "kube-api-access-x1", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
				},
				SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
			}},
			Volumes: []corev1.Volume{
				{Name: "app", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app"}}},
				{Name: "kube-api-access-x1", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: ptr.To[int32](0o644),
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
							{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
					},
				}}},
			},
		},
	}
	client := fake.NewClientset(pod,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ops"}, Data: map[string][]byte{"key": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "ops"}, Data: map[string]string{"ca.crt": "PEM"}})
	var tokenRequest *authenticationv1.TokenRequest
	client.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, k8sruntime.Object, error) {
		create := action.(k8stesting.CreateAction)
		if create.GetSubresource() != "token" {
			return false, nil, nil
		}
		tokenRequest = create.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tokenRequest.Status.Token = "bound-token"
		return true, tokenRequest, nil
	})
	ag := newAgent(client, nodeInfo{name: "node-1", address: "127.0.0.1", podPrefix: "127.0.11"}, dir, newImageStore(images))
	r := newPodRunner(ag, pod, "127.0.11.2")
	ctx := context.Background()
	require.NoError(t, r.prepare(ctx))
	c := r.containers[0]
	r.start(ctx, c)
	require.Nil(t, c.waiting, "%+v", c.waiting)
	require.NotNil(t, c.proc)
	select {
	case <-c.proc.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the container did not finish")
	}
	logged, err := os.ReadFile(filepath.Join(r.dir, "probe.log"))
	require.NoError(t, err)
	seen := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		seen[k] = v
	}
	require.Equal(t, map[string]string{
		"uid": "1234", "gid": "2345", "host": "probe-7f9c", "wd": "/",
		"token": "bound-token", "namespace": "ops", "ca": "PEM", "secret": "s3cret",
		"rootWritable": "false", "secretWritable": "false", "proc": "true", "hostVisible": "false",
		"api": "127.0.0.1:16443", "podIP": "127.0.11.2", "imageEnv": "yes", "args": "/probe --pod=probe-7f9c",
		"devNull": "true",
	}, seen, "%s", logged)
	require.Equal(t, int32(0), exitState(c.proc, c.startedAt).ExitCode)

	require.NotNil(t, tokenRequest)
	require.Equal(t, "probe-7f9c", tokenRequest.Spec.BoundObjectRef.Name)
	require.EqualValues(t, "uid-1", tokenRequest.Spec.BoundObjectRef.UID)
	require.Empty(t, tokenRequest.Spec.Audiences, "the API server's audience")
	require.Equal(t, "oci-archive:"+filepath.Join(images, "probe.oci.tar")+"@"+c.image.manifest.Digest, c.image.ID())
	require.False(t, c.image.exact, "tag 0.1.0 ran the archive tagged v1")

	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	require.NotContains(t, string(mounts), dir, "the container's mounts stay in its namespace")

	// A running image container is found by what `sandbox down` kills: its working folder is in
	// the sandbox's.
	c.spec.Env = append(c.spec.Env, corev1.EnvVar{Name: "SLEEP", Value: "1"})
	r.start(ctx, c)
	require.Nil(t, c.waiting, "%+v", c.waiting)
	require.True(t, processMatches(c.proc.cmd.Process.Pid, dir), "the container's process is the sandbox's")
	killed, err := killRecorded(r.dir, dir)
	require.NoError(t, err)
	require.Equal(t, 1, killed)
	select {
	case <-c.proc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the container outlived the kill")
	}
}

// runAsNonRoot refuses an image that would run as root, as a kubelet does.
func TestContainerUser(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}}}
	uid, gid, err := containerUser(pod, corev1.Container{}, imageConfig{User: "65532:65532"})
	require.NoError(t, err)
	require.Equal(t, [2]uint32{65532, 65532}, [2]uint32{uid, gid})
	_, _, err = containerUser(pod, corev1.Container{}, imageConfig{})
	require.ErrorContains(t, err, "runAsNonRoot")
	_, _, err = containerUser(&corev1.Pod{}, corev1.Container{}, imageConfig{User: "nonroot"})
	require.ErrorContains(t, err, "not numeric")
	uid, gid, err = containerUser(pod, corev1.Container{SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](7)}}, imageConfig{User: "nonroot:5"})
	require.NoError(t, err)
	require.Equal(t, [2]uint32{7, 5}, [2]uint32{uid, gid})
}

func TestImageArgv(t *testing.T) {
	config := imageConfig{Entrypoint: []string{"/op"}, Cmd: []string{"--default"}}
	env := map[string]string{"NS": "ops"}
	require.Equal(t, []string{"/op", "--default"}, imageArgv(corev1.Container{}, config, env))
	require.Equal(t, []string{"/op", "--ns=ops"}, imageArgv(corev1.Container{Args: []string{"--ns=$(NS)"}}, config, env))
	require.Equal(t, []string{"/bin/sh", "-c", "x"}, imageArgv(corev1.Container{Command: []string{"/bin/sh"}, Args: []string{"-c", "x"}}, config, env))
	require.Equal(t, []string{"/bin/true"}, imageArgv(corev1.Container{Command: []string{"/bin/true"}}, config, env))
}

// Pods off the host network get addresses of their node's range in turn, not reused at once.
func TestPodIPs(t *testing.T) {
	p := podIPs{prefix: "127.0.12", used: map[int]types.UID{}}
	first, err := p.allocate("a")
	require.NoError(t, err)
	require.Equal(t, "127.0.12.2", first)
	second, _ := p.allocate("b")
	require.Equal(t, "127.0.12.3", second)
	p.release("a")
	third, _ := p.allocate("c")
	require.Equal(t, "127.0.12.4", third, "a freed address waits its turn")
	for i := 0; i < 251; i++ { // the rest of .2 to .254
		_, err := p.allocate(types.UID(strconv.Itoa(i)))
		require.NoError(t, err)
	}
	_, err = p.allocate("full")
	require.ErrorContains(t, err, "no pod address left")
}
