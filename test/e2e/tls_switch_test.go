package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
	"redis-operator/test/tlstest"
)

// eitherWayClient is a cluster client of rc's nodes that opens each connection the way the node
// takes it: in the clear when a PING answers so, over TLS with config otherwise. It is what a
// client sees of a switch of the links, without knowing when it happens.
func eitherWayClient(t *testing.T, rc *redisv1beta1.RedisCluster, config *tls.Config) *redis.ClusterClient {
	var mu sync.Mutex
	viaTLS := map[string]bool{} // how each address took the last connection
	plain := func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// A plain node answers at once; a TLS one waits for the rest of what it takes for a record.
		_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
		line, rerr := "", error(nil)
		if _, err := conn.Write([]byte("PING\r\n")); err == nil {
			line, rerr = bufio.NewReader(conn).ReadString('\n')
		}
		if rerr != nil || !strings.HasPrefix(line, "+PONG") {
			_ = conn.Close()
			return nil, fmt.Errorf("%s does not answer in the clear", addr)
		}
		_ = conn.SetDeadline(time.Time{})
		return conn, nil
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: 2 * time.Second}
		secure := func(ctx context.Context, network, addr string) (net.Conn, error) {
			// A plain node waits for a line that a handshake never sends: bounded.
			ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			return (&tls.Dialer{NetDialer: d, Config: config}).DialContext(ctx, network, addr)
		}
		mu.Lock()
		first := viaTLS[addr]
		mu.Unlock()
		for _, useTLS := range []bool{first, !first} {
			var conn net.Conn
			var err error
			if useTLS {
				conn, err = secure(ctx, network, addr)
			} else {
				conn, err = plain(ctx, d, network, addr)
			}
			if err == nil {
				mu.Lock()
				viaTLS[addr] = useTLS
				mu.Unlock()
				return conn, nil
			}
		}
		return nil, fmt.Errorf("%s answers neither way", addr)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: framework.NodeAddrs(rc), Protocol: 2, DisableIdentity: true,
		MaxRedirects: 16, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, Dialer: dial})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitLinks waits until rc's nodes run links, every pod of the current spec, and it is Ready.
func waitLinks(t *testing.T, ns, name, links string) *redisv1beta1.RedisCluster {
	t.Helper()
	var rc *redisv1beta1.RedisCluster
	framework.WaitFor(t, 4*time.Minute, "links "+links+", every pod current, Ready", func() (bool, error) {
		rc = f.Cluster(t, ns, name)
		updating := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionUpdating)
		return rc.Status.Links == links && updating != nil && updating.Status == metav1.ConditionFalse && rc.Status.UpdatedNodes == 6 &&
			meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionReady) && rc.Status.ObservedGeneration == rc.Generation, nil
	})
	return rc
}

// TLS turned on for a running 3x1 cluster with 100,000 keys, then off, under writers that
// connect either way: every node switches its links live, then the pods of the new mode
// replace the old ones (masters hand over first); every key and every acknowledged write is
// kept, and a plain connection is refused while the links are TLS.
func TestTLSTurnedOnAndOffKeepsEveryKey(t *testing.T) {
	rc := f.ReadyCluster(t, "tls-switch")
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "kept", 100000)
	creds := tlstest.NewCA(t, "switch-ca").ValidNode(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "switch-tls", Namespace: ns}, Type: corev1.SecretTypeTLS, Data: creds.SecretData()}
	_, err := f.Kube.CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{})
	require.NoError(t, err)
	clients := trustingClient(t, creds)
	client := eitherWayClient(t, rc, clients)
	w := framework.StartWriters(client, 8, 1000000)

	start := time.Now()
	patchCluster(t, ns, "tls-switch", `{"spec":{"tls":{"secretName":"switch-tls","authClients":"optional"}}}`)
	// A client of TLS alone, from the switch on: what a client that moved with it sees of the
	// roll that follows.
	framework.WaitFor(t, 4*time.Minute, "the links switched to TLS", func() (bool, error) {
		return f.Cluster(t, ns, "tls-switch").Status.Links == redisv1beta1.LinksTLS, nil
	})
	switched := time.Since(start)
	tlsOnly := framework.StartWriters(redisClusterClient(t, rc, clients), 4, 1000000)
	rc = waitLinks(t, ns, "tls-switch", redisv1beta1.LinksTLS)
	on := time.Since(start)
	tlsOnly.Halt()
	tlsOnly.CheckAcked(t, redisClusterClient(t, rc, clients))
	t.Logf("links TLS %s after the change; a TLS client from then on through the roll: %d writes acknowledged, longest gap %s, %d failed",
		switched.Round(10*time.Millisecond), tlsOnly.Acked(), tlsOnly.LongestGap(), tlsOnly.Fails())
	plain := redis.NewClient(&redis.Options{Addr: framework.NodeAddrs(rc)[0], MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	require.Error(t, plain.Ping(context.Background()).Err(), "a plain connection to TLS links")
	_ = plain.Close()
	framework.PresentTLS(t, rc, creds)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 100000)
	f.CheckInvariants(t, rc)
	onGap, onFails := w.LongestGap(), w.Fails()

	start = time.Now()
	patchCluster(t, ns, "tls-switch", `{"spec":{"tls":null}}`)
	rc = waitLinks(t, ns, "tls-switch", redisv1beta1.LinksPlain)
	off := time.Since(start)
	w.Halt()
	framework.ForgetTLS(rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "kept", 100000)
	f.CheckInvariants(t, rc)
	w.CheckAcked(t, framework.ClusterClient(t, rc))
	events, err := f.Kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=SwitchingLinks"})
	require.NoError(t, err)
	for _, e := range events.Items {
		t.Logf("%s %s: %s", e.FirstTimestamp.Format("15:04:05"), e.Reason, e.Message)
	}
	for e, n := range w.Errors() {
		t.Logf("%d writes failed: %s", n, e)
	}
	t.Logf("on: links TLS and every pod replaced %s after the change (longest write gap %s, %d failed writes); off: %s; %d writes acknowledged, longest gap %s, %d failed in all",
		on.Round(10*time.Millisecond), onGap, onFails, off.Round(10*time.Millisecond), w.Acked(), w.LongestGap(), w.Fails())
}
