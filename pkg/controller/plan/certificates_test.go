package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// A renewed certificate in a TLS cluster's Secret: only the nodes whose status names another
// are asked which they serve; a node that served the old one loads its files again, and until
// every node serves the new one the Updating condition says which do not.
func TestARenewedCertificateIsReloadedWhereTheOldOneIsServed(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.TLS = &redisv1beta1.TLSSpec{SecretName: "certs"}
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	o := liveObservationOf(rc, secret, objects.SettingsHash(rc, nil), objects.AuthVersion(secret))
	expires := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range 6 {
		serial := "0a"
		if i == 4 {
			serial = "0b"
		}
		rc.Status.Nodes = append(rc.Status.Nodes, redisv1beta1.NodeStatus{Pod: objects.PodName(rc, i),
			Certificate: &redisv1beta1.CertificateStatus{Serial: serial, NotAfter: expires}})
	}
	o.Certificate = &redisv1beta1.CertificateStatus{Serial: "0b", NotAfter: expires}
	ask := CertificatesToCheck(o)
	require.Len(t, ask, 5, "node 4 is on record with the Secret's certificate")
	require.NotContains(t, ask, testcluster.Addr(4))

	// Node 1 loaded it on its own (it restarted); node 0 and the others serve the old one.
	o.ServedCertificates = map[string]redisv1beta1.CertificateStatus{}
	for _, addr := range ask {
		o.ServedCertificates[addr] = redisv1beta1.CertificateStatus{Serial: "0a", NotAfter: expires}
	}
	o.ServedCertificates[testcluster.Addr(1)] = redisv1beta1.CertificateStatus{Serial: "0b", NotAfter: expires}
	d := Decide(o)
	var reloaded []int
	for _, a := range d.Actions {
		if r, ok := a.(ReloadCertificate); ok {
			reloaded = append(reloaded, r.Node.Index)
			require.Equal(t, "0b", r.Serial)
		}
	}
	require.Equal(t, []int{0, 2, 3, 5}, reloaded)
	updating := meta.FindStatusCondition(d.Status.Conditions, redisv1beta1.ConditionUpdating)
	require.Equal(t, metav1.ConditionTrue, updating.Status)
	require.Equal(t, ReasonRotatingCertificate, updating.Reason)
	require.Contains(t, updating.Message, "2 of 6 nodes serve certificate 0b")
	require.Contains(t, updating.Message, "rc-0 serves 0a")
	require.NotContains(t, updating.Message, "rc-1 serves")
	require.Equal(t, "0b", d.Status.Nodes[1].Certificate.Serial, "the handshake's answer is on record")
	require.Equal(t, "0b", d.Status.Nodes[4].Certificate.Serial, "a node not asked keeps its record")

	// Every node serves it: nothing to do, and the cluster is up to date.
	for _, addr := range ask {
		o.ServedCertificates[addr] = redisv1beta1.CertificateStatus{Serial: "0b", NotAfter: expires}
	}
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
