package plan

import (
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops/conf"
)

// runFiles has the node at addr of o say it runs the certificate files of version ("" for the
// files it started with).
func runFiles(o *Observation, addr, version string) {
	files := conf.CertificateFiles{Cert: "tls.crt", Key: "tls.key", CA: "ca.crt"}
	if version != "" {
		files = objects.VersionedCertificateFiles(version)
	}
	st := o.View.Nodes[addr]
	if st.Config == nil {
		st.Config = map[string]string{}
	}
	st.Config["tls-cert-file"], st.Config["tls-key-file"], st.Config["tls-ca-cert-file"] =
		"/etc/redis-tls/"+files.Cert, "/etc/redis-tls/"+files.Key, "/etc/redis-tls/"+files.CA
}

// New files in the node-certificate Secret: every node that runs others (read back by name)
// loads them, one that started with the Secret's fixed names too, and until every node runs
// them the Updating condition says which do not and the Secret may not move on. A node's served
// certificate is asked by a handshake only when its status names another.
func TestNewCertificateFilesAreLoadedWhereOthersRun(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	o := liveObservationOf(rc, secret, objects.SettingsHash(rc, nil), objects.AuthVersion(secret))
	require.Contains(t, ReadBackDirectives(o), "tls-ca-cert-file", "a TLS node says which files it runs")
	expires := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range 6 {
		serial := "0a"
		if i == 4 {
			serial = "0b"
		}
		rc.Status.Nodes = append(rc.Status.Nodes, redisv1beta1.NodeStatus{Pod: objects.PodName(rc, i), IP: "10.0.0." + strconv.Itoa(i+1), Port: int32(10000 + i),
			Certificate: &redisv1beta1.CertificateStatus{Serial: serial, NotAfter: expires}})
	}
	o.Certificate = &redisv1beta1.CertificateStatus{Serial: "0b", NotAfter: expires}
	o.CertificateVersion = "new"
	ask := CertificatesToCheck(o)
	require.Len(t, ask, 5, "node 4 is on record with the Secret's certificate")
	require.NotContains(t, ask, testcluster.Addr(4))
	o.ServedCertificates = map[string]redisv1beta1.CertificateStatus{}
	for i := range 6 {
		runFiles(o, testcluster.Addr(i), "old")
		o.ServedCertificates[testcluster.Addr(i)] = redisv1beta1.CertificateStatus{Serial: "0a", NotAfter: expires}
	}
	runFiles(o, testcluster.Addr(1), "new")
	o.ServedCertificates[testcluster.Addr(1)] = redisv1beta1.CertificateStatus{Serial: "0b", NotAfter: expires}
	runFiles(o, testcluster.Addr(4), "") // restarted: the files it started with
	delete(o.ServedCertificates, testcluster.Addr(4))
	require.False(t, CertificateSettled(o))

	d := Decide(o)
	reloaded := map[int]string{}
	for _, a := range d.Actions {
		if r, ok := a.(ReloadCertificate); ok {
			require.Equal(t, "new", r.Version)
			reloaded[r.Node.Index] = r.From
		}
	}
	require.Equal(t, map[int]string{0: "old", 2: "old", 3: "old", 4: "", 5: "old"}, reloaded)
	for _, a := range d.Actions { // the pods as labelled by this decision
		if l, ok := a.(LabelPod); ok {
			for _, pod := range o.Pods {
				if pod.Name == l.Pod {
					maps.Copy(pod.Labels, l.Labels)
				}
			}
		}
	}
	require.Equal(t, certificateRecheckDelay, Decide(o).Requeue, "only reloads: the kubelet is awaited")
	updating := meta.FindStatusCondition(d.Status.Conditions, redisv1beta1.ConditionUpdating)
	require.Equal(t, metav1.ConditionTrue, updating.Status)
	require.Equal(t, ReasonRotatingCertificate, updating.Reason)
	require.Contains(t, updating.Message, "1 of 6 nodes run certificate files new, serving 0b")
	require.Contains(t, updating.Message, "rc-0 serves 0a")
	require.Contains(t, updating.Message, `rc-4 runs files ""`)
	require.NotContains(t, updating.Message, "rc-1 ")
	require.Equal(t, "0b", d.Status.Nodes[1].Certificate.Serial, "the handshake's answer is on record")
	require.Equal(t, "0b", d.Status.Nodes[4].Certificate.Serial, "a node not asked keeps its record")

	// Every node runs them: nothing to do, the cluster is up to date, the Secret may move on.
	for i := range 6 {
		runFiles(o, testcluster.Addr(i), "new")
		o.ServedCertificates[testcluster.Addr(i)] = redisv1beta1.CertificateStatus{Serial: "0b", NotAfter: expires}
	}
	require.True(t, CertificateSettled(o))
	d = Decide(o)
	for _, a := range d.Actions {
		_, reload := a.(ReloadCertificate)
		require.False(t, reload, a.Why())
	}
	require.True(t, meta.IsStatusConditionFalse(d.Status.Conditions, redisv1beta1.ConditionUpdating))
}

// A Secret whose certificate nodes could not load: Degraded says why, with one Event, and the
// rest goes on (a rolling update included: new nodes load the last certificate that passed).
func TestARefusedTLSSecretIsDegradedAndHoldsNothingUp(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	o := liveObservationOf(rc, secret, objects.SettingsHash(rc, nil), objects.AuthVersion(secret))
	rc.Spec.Image = "redis:7.2" // every pod is outdated: a rolling update is due
	o.TLSRefused = "TLS secret certs: tls.crt and tls.key: private key does not match public key"
	d := Decide(o)
	replaced := false
	for _, a := range d.Actions {
		_, r := a.(ReplacePod)
		replaced = replaced || r
	}
	require.True(t, replaced, "the rolling update goes on")
	degraded := meta.FindStatusCondition(d.Status.Conditions, redisv1beta1.ConditionDegraded)
	require.Equal(t, ReasonTLSSecretRefused, degraded.Reason)
	require.Contains(t, degraded.Message, "private key does not match")
	require.Len(t, d.Events, 1)
	require.Equal(t, ReasonTLSSecretRefused, d.Events[0].Reason)

	rc.Status = d.Status
	require.Empty(t, Decide(o).Events, "said once")
}
