package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
)

// tlsKeys are the keys of a TLS Secret the nodes load.
var tlsKeys = []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, objects.TLSCAKey}

// certificateFiles are the three files of a certificate by key, with what they parse to.
type certificateFiles struct {
	data  map[string][]byte
	creds *redisops.TLSCredentials
}

// nodeCertificate is what a sync knows of a TLS cluster's certificate.
type nodeCertificate struct {
	// creds are what the operator presents to the nodes and trusts in them: the copy's, which
	// every node has loaded or is loading.
	creds *redisops.TLSCredentials
	// copied are the node-certificate Secret's files, nil before the operator wrote it; loaded
	// is that Secret.
	copied *certificateFiles
	loaded *corev1.Secret
	// user are the user's Secret's files, checked; nil when refused says why not.
	user    *certificateFiles
	refused error
}

// nodeCertificateOf reads rc's TLS Secrets from the informer's cache; nil for a plain cluster.
// A cluster whose links still run TLS after spec.tls went has the node-certificate Secret's.
func (c *Controller) nodeCertificateOf(rc *redisv1beta1.RedisCluster) *nodeCertificate {
	if rc.Spec.TLS == nil && !rc.RunsTLS() {
		return nil
	}
	now := time.Now()
	out := &nodeCertificate{}
	if loaded, err := c.secrets.Secrets(rc.Namespace).Get(objects.NodeCertificateSecretName(rc)); err == nil {
		out.loaded = loaded
		if owner := metav1.GetControllerOf(loaded); owner != nil && owner.UID == rc.UID {
			if creds, err := parseTLSFiles(loaded.Data, now); err == nil {
				out.copied = &certificateFiles{pick(loaded.Data), creds}
				out.creds = creds
			}
		}
	}
	if out.creds == nil {
		out.creds = c.redis.tlsCredentials(keyOf(rc))
	}
	if rc.Spec.TLS == nil {
		return out
	}
	name := objects.TLSSecretName(rc)
	secret, err := c.secrets.Secrets(rc.Namespace).Get(name)
	if err != nil {
		out.refused = fmt.Errorf("reading TLS secret %s: %w", name, err)
		return out
	}
	creds, err := parseTLSFiles(secret.Data, now)
	if err != nil {
		out.refused = fmt.Errorf("TLS secret %s: %w", name, err)
		return out
	}
	out.user = &certificateFiles{pick(secret.Data), creds}
	if out.creds == nil {
		out.creds = creds // a new cluster: its nodes start with the user's
	}
	return out
}

func parseTLSFiles(data map[string][]byte, now time.Time) (*redisops.TLSCredentials, error) {
	return redisops.ParseTLSCredentials(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey], data[objects.TLSCAKey], now)
}

// pick are the three files of a Secret's data.
func pick(data map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(tlsKeys))
	for _, key := range tlsKeys {
		out[key] = data[key]
	}
	return out
}

// next are the files the node-certificate Secret is to hold next, nil when it holds what it
// should or must wait: the user's when the nodes and they trust each other (a renewal), and
// otherwise a step towards them that every node can take beside those that have not yet. A new
// CA first joins the nodes' CAs, under the certificate they serve; then its certificate is
// served, both CAs trusted; then the user's CAs alone. The copy only moves on once every
// answering node loaded it (settled), so no two nodes are ever two steps apart.
func (n *nodeCertificate) next(settled bool, now time.Time) (map[string][]byte, error) {
	switch {
	case n.user == nil:
		return nil, nil
	case n.copied == nil:
		return n.user.data, nil
	case !settled || sameFiles(n.copied.data, n.user.data):
		return nil, nil
	case n.user.creds.Follows(n.copied.creds, now) == nil:
		return n.user.data, nil
	}
	both := joinPEM(n.copied.data[objects.TLSCAKey], n.user.data[objects.TLSCAKey])
	from := n.copied.data // the user's certificate is not trusted yet: trust its CA first
	if trusts(n.copied.creds.Roots, n.user.creds.Leaf) {
		from = n.user.data // trusted: serve it, trusting the old CA still
	}
	step := map[string][]byte{corev1.TLSCertKey: from[corev1.TLSCertKey], corev1.TLSPrivateKeyKey: from[corev1.TLSPrivateKeyKey], objects.TLSCAKey: both}
	creds, err := parseTLSFiles(step, now)
	if err == nil {
		err = creds.Follows(n.copied.creds, now)
	}
	if err != nil || sameFiles(step, n.copied.data) {
		return nil, fmt.Errorf("no step leads from the nodes' certificate to the TLS secret's (%v)", err)
	}
	return step, nil
}

func trusts(roots *x509.CertPool, leaf *x509.Certificate) bool {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func sameFiles(a, b map[string][]byte) bool {
	for _, key := range tlsKeys {
		if !bytes.Equal(a[key], b[key]) {
			return false
		}
	}
	return true
}

// joinPEM is the certificates of a and then those of b not in a, as PEM.
func joinPEM(a, b []byte) []byte {
	var out []byte
	seen := map[string]bool{}
	for _, rest := range [][]byte{a, b} {
		for {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if block.Type == "CERTIFICATE" && !seen[string(block.Bytes)] {
				seen[string(block.Bytes)] = true
				out = append(out, pem.EncodeToMemory(block)...)
			}
		}
	}
	return out
}

// stepNodeCertificate writes the node-certificate Secret's next files (see next) and tells o
// which files the nodes are to run, and why the user's Secret is refused, if it is.
func (c *Controller) stepNodeCertificate(ctx context.Context, rc *redisv1beta1.RedisCluster, cert *nodeCertificate, o *plan.Observation) error {
	if cert == nil {
		return nil
	}
	if cert.copied != nil {
		o.CertificateVersion = objects.CertificateVersion(cert.copied.data)
	}
	files, err := cert.next(cert.copied != nil && plan.CertificateSettled(o), o.Now)
	if err != nil {
		cert.refused = fmt.Errorf("TLS secret %s: %w", objects.TLSSecretName(rc), err)
	}
	if cert.refused != nil {
		o.TLSRefused = cert.refused.Error()
	}
	if files == nil {
		return nil
	}
	if err := c.writeOwnedSecret(ctx, rc, objects.NodeCertificateSecret(rc, files), cert.loaded); err != nil {
		return err
	}
	if cert.copied == nil {
		o.CertificateVersion = objects.CertificateVersion(files) // a new cluster's nodes start with them
	}
	return nil
}

// linkCredentials are what the operator's connections to rc's nodes present: cert's while the
// nodes' links run TLS, none while they run plain.
func linkCredentials(rc *redisv1beta1.RedisCluster, cert *nodeCertificate) *redisops.TLSCredentials {
	if cert == nil || !rc.RunsTLS() {
		return nil
	}
	return cert.creds
}

// followLinks is rc as its nodes run: when a node status.links names does not answer that way
// but does the other (a switch whose status write was lost, the operator stopped in between),
// rc with status.links saying so, and an Event; otherwise rc. Without it the operator would
// never reach the nodes again.
func (c *Controller) followLinks(ctx context.Context, rc *redisv1beta1.RedisCluster, cert *nodeCertificate, passwords []string) *redisv1beta1.RedisCluster {
	var addr string
	for _, n := range rc.Status.Nodes {
		if n.IP != "" {
			addr = fmt.Sprintf("%s:%d", n.IP, n.Port)
			break
		}
	}
	if cert == nil || addr == "" {
		return rc
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	current := c.redis.get(keyOf(rc), passwords, linkCredentials(rc, cert))
	if current.View(ctx, []string{addr}).Nodes[addr].Err == nil {
		return rc
	}
	other := rc.DeepCopy()
	other.Status.Links = redisv1beta1.LinksTLS
	if rc.RunsTLS() {
		other.Status.Links = redisv1beta1.LinksPlain
	}
	probe := c.redis.connect(tlsConfigOf(linkCredentials(other, cert)), passwords...)
	defer probe.Close()
	if probe.View(ctx, []string{addr}).Nodes[addr].Err != nil {
		return rc // down, not another mode
	}
	c.recordEvent(rc, corev1.EventTypeWarning, plan.ReasonSwitchingLinks, "Node %s answers with %s links, not the %s links status.links named: following the nodes",
		addr, other.Status.Links, rc.Status.Links)
	return other
}

// tlsConfigOf is a TLS client configuration of creds, nil for none.
func tlsConfigOf(creds *redisops.TLSCredentials) *tls.Config {
	if creds == nil {
		return nil
	}
	return redisops.TLSConfig(func() *redisops.TLSCredentials { return creds })
}
