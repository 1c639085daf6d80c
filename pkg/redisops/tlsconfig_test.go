package redisops_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"redis-operator/pkg/redisops"
	"redis-operator/test/tlstest"
)

// Credentials a node could not use are refused before anyone loads them.
func TestParseTLSCredentialsRefusesWhatANodeCouldNotUse(t *testing.T) {
	ca, other := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "other")
	good := ca.ValidNode(t)
	now := time.Now()
	creds, err := redisops.ParseTLSCredentials(good.Cert, good.Key, good.CA, now)
	require.NoError(t, err)
	require.Equal(t, "redis-node", creds.Leaf.Subject.CommonName)

	_, err = redisops.ParseTLSCredentials(good.Cert, ca.ValidNode(t).Key, good.CA, now)
	require.ErrorContains(t, err, "tls.key", "a key of another certificate")
	_, err = redisops.ParseTLSCredentials(good.Cert, good.Key, other.PEM, now)
	require.ErrorContains(t, err, "ca.crt", "a certificate of another CA")
	expired := ca.Node(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	_, err = redisops.ParseTLSCredentials(expired.Cert, expired.Key, expired.CA, now)
	require.ErrorContains(t, err, "not now", "an expired certificate")
	_, err = redisops.ParseTLSCredentials(good.Cert, good.Key, []byte("not a certificate"), now)
	require.ErrorContains(t, err, "ca.crt")
}

// A new CA comes in beside the old one: credentials follow others only when each side trusts
// the other's certificate.
func TestCredentialsFollowOnlyWhatTheNodesTrust(t *testing.T) {
	old, fresh := tlstest.NewCA(t, "old"), tlstest.NewCA(t, "new")
	now := time.Now()
	parse := func(c tlstest.Credentials) *redisops.TLSCredentials {
		creds, err := redisops.ParseTLSCredentials(c.Cert, c.Key, c.CA, now)
		require.NoError(t, err)
		return creds
	}
	both := append(append([]byte(nil), old.PEM...), fresh.PEM...)
	serving := parse(old.ValidNode(t))
	require.NoError(t, parse(old.ValidNode(t)).Follows(serving, now), "a renewal by the same CA")
	require.ErrorContains(t, parse(fresh.ValidNode(t)).Follows(serving, now), "do not trust yet", "the new CA at once")

	bundled := old.ValidNode(t)
	bundled.CA = both
	step1 := parse(bundled)
	require.NoError(t, step1.Follows(serving, now), "the new CA beside the old one")
	moved := fresh.ValidNode(t)
	moved.CA = both
	step2 := parse(moved)
	require.NoError(t, step2.Follows(step1, now), "a certificate of the new CA, both trusted")
	require.NoError(t, parse(fresh.ValidNode(t)).Follows(step2, now), "the old CA dropped once the nodes serve the new one")
	require.ErrorContains(t, parse(fresh.ValidNode(t)).Follows(step1, now), "no longer trusts", "the old CA dropped while the nodes serve its certificate")
	onlyOld := old.ValidNode(t)
	require.ErrorContains(t, parse(onlyOld).Follows(step2, now), "no longer trusts")
}
