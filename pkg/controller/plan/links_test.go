package plan

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// switches are the SwitchTLS actions of d.
func switches(d Decision) []SwitchTLS {
	var out []SwitchTLS
	for _, a := range d.Actions {
		if s, ok := a.(SwitchTLS); ok {
			out = append(out, s)
		}
	}
	return out
}

// spec.tls added to a running plain cluster: its pods are replaced first (to mount the
// certificate, links still plain); once every node runs such a pod and answers, every node
// switches at once; then the pods of TLS links are the current ones. Removed again: the nodes
// switch back first, with the pods they run.
func TestLinksSwitchOnceEveryNodeRunsAPodThatCan(t *testing.T) {
	plain := testcluster.Cluster("rc")
	plain.Status.Links = redisv1beta1.LinksPlain
	secret := objects.ConfigSecret(plain, "", "exporter-secret", nil, nil, false)
	o := liveObservationOf(plain, secret, objects.SettingsHash(plain, nil), objects.AuthVersion(secret))
	on := plain.DeepCopy()
	on.Spec.TLS = &redisv1beta1.TLSSpec{}
	o.Cluster, o.CertificateVersion = on, "v1"
	d := Decide(o)
	require.Empty(t, switches(d), "the pods mount no certificate yet")
	_, replaced := d.Actions[0].(ReplacePod)
	require.True(t, replaced, "%v", d.Actions)

	o = liveObservationOf(on, secret, objects.SettingsHash(on, nil), objects.AuthVersion(secret))
	o.CertificateVersion = "v1"
	d = Decide(o)
	got := switches(d)
	require.Len(t, got, 1, "%v", d.Actions)
	require.True(t, got[0].On)
	require.Equal(t, "v1", got[0].Version)
	require.Len(t, got[0].Nodes, 6)
	updating := meta.FindStatusCondition(d.Status.Conditions, redisv1beta1.ConditionUpdating)
	require.Equal(t, ReasonSwitchingLinks, updating.Reason)

	o.CertificateVersion = ""
	require.Empty(t, switches(Decide(o)), "no certificate to load")
	o.CertificateVersion = "v1"
	o.View.Nodes[testcluster.Addr(4)].Err = errors.New("i/o timeout")
	d = Decide(o)
	require.Empty(t, switches(d), "a node that does not answer would stay behind")

	switched := on.DeepCopy()
	switched.Status.Links = redisv1beta1.LinksTLS
	o = liveObservationOf(on, secret, objects.SettingsHash(on, nil), objects.AuthVersion(secret))
	o.Cluster = switched
	d = Decide(o)
	require.Empty(t, switches(d))
	_, replaced = d.Actions[0].(ReplacePod)
	require.True(t, replaced, "the pods of TLS links replace those of plain ones: %v", d.Actions)

	off := switched.DeepCopy()
	off.Spec.TLS = nil
	o = liveObservationOf(switched, secret, objects.SettingsHash(switched, nil), objects.AuthVersion(secret))
	o.Cluster, o.CertificateVersion = off, "v1"
	got = switches(Decide(o))
	require.Len(t, got, 1, "the pods of TLS links are still the current ones: the nodes switch back first")
	require.False(t, got[0].On)
}
