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
