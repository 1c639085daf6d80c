package main

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

// A cluster's bootstrap and scalings record dozens of Events on one object; the one after them
// still reaches the API server.
func TestEventsPastClientGosDefaultBurstReachTheAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube := fake.NewClientset()
	broadcaster := newEventBroadcaster(ctx, kube)
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "redis-operator"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cache", Name: "rediscluster1-0", UID: "u1"}}

	for i := 0; i < 40; i++ {
		recorder.Eventf(pod, corev1.EventTypeNormal, fmt.Sprintf("Step%d", i), "step %d", i)
	}
	recorder.Event(pod, corev1.EventTypeNormal, "Autoscaled", "HighMemoryUsage: masters 3 -> 4")

	require.Eventually(t, func() bool {
		events, err := kube.CoreV1().Events("cache").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range events.Items {
			if e.Reason == "Autoscaled" {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "the 41st Event was dropped")
}

// Without a token the webhook is off; accepting anyone takes a flag of its own, and asking for
// both is a mistake.
func TestWebhookAllowUnauthenticatedFlag(t *testing.T) {
	opts, err := parseFlags(nil)
	require.NoError(t, err)
	require.False(t, opts.webhookAllowAnyone)

	opts, err = parseFlags([]string{"--webhook-allow-unauthenticated"})
	require.NoError(t, err)
	require.True(t, opts.webhookAllowAnyone)

	_, err = parseFlags([]string{"--webhook-allow-unauthenticated", "--webhook-token-file=/etc/token"})
	require.ErrorContains(t, err, "--webhook-token-file")
}

// With the pod's IPs known, a port alone listens on them and on loopback, not on every address;
// the sandbox's loopback pod IPs stand alone, and an address with a host is kept as given.
func TestListenAddrs(t *testing.T) {
	ips := func(s ...string) []net.IP {
		var out []net.IP
		for _, ip := range s {
			out = append(out, net.ParseIP(ip))
		}
		return out
	}
	cases := []struct {
		addr   string
		podIPs []net.IP
		want   []string
	}{
		{":9090", nil, []string{":9090"}},
		{":9090", ips("10.1.2.3"), []string{"10.1.2.3:9090", "127.0.0.1:9090"}},
		{":9090", ips("10.1.2.3", "fd00::3"), []string{"10.1.2.3:9090", "[fd00::3]:9090", "127.0.0.1:9090", "[::1]:9090"}},
		{":9090", ips("fd00::3"), []string{"[fd00::3]:9090", "[::1]:9090"}},
		{":8080", ips("127.0.12.2"), []string{"127.0.12.2:8080"}},
		{"127.0.0.1:9090", ips("10.1.2.3"), []string{"127.0.0.1:9090"}},
		{"0.0.0.0:9090", ips("10.1.2.3"), []string{"0.0.0.0:9090"}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, listenAddrs(tc.addr, tc.podIPs), "%s with pod IPs %v", tc.addr, tc.podIPs)
	}
}

// --pod-ips defaults to $POD_IPS, which the chart sets from the downward API.
func TestPodIPsFlag(t *testing.T) {
	t.Setenv("POD_IPS", "10.1.2.3,fd00::3")
	opts, err := parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, "10.1.2.3 fd00::3", fmt.Sprint(opts.podIPs[0], " ", opts.podIPs[1]))

	opts, err = parseFlags([]string{"--pod-ips="})
	require.NoError(t, err)
	require.Empty(t, opts.podIPs)

	_, err = parseFlags([]string{"--pod-ips=$(POD_IPS)"})
	require.ErrorContains(t, err, "not an IP")
}
