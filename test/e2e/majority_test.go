package e2e

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

// Two of three masters bunched on one host by failovers, and that host's pods lost: too few
// masters are left to vote a replica in, so the replicas take over without a vote and the
// cluster heals with every key.
func TestLostMajorityOfMastersHeals(t *testing.T) {
	// The operator is down from the promotion to the loss: running, it would spread the two
	// masters again before the loss.
	op := f.StartOperator(t)
	rc := f.ReadyCluster(t, "majority", framework.RunBy(op))
	ns := rc.Namespace
	framework.WriteKeys(t, framework.ClusterClient(t, rc), "majority", 20000)

	// The host whose two pods will both be masters.
	hostOf := map[string]string{}
	byHost := map[string][]redisv1beta1.NodeStatus{}
	for _, n := range rc.Status.Nodes {
		pod, err := f.Kube.CoreV1().Pods(ns).Get(context.Background(), n.Pod, metav1.GetOptions{})
		require.NoError(t, err)
		hostOf[n.Pod] = pod.Spec.NodeName
		byHost[pod.Spec.NodeName] = append(byHost[pod.Spec.NodeName], n)
	}
	var host string
	for h, nodes := range byHost {
		if len(nodes) == 2 && (host == "" || h < host) {
			host = h
		}
	}
	require.NotEmpty(t, host, "a host with two pods: %v", hostOf)
	op.Kill()
	for _, n := range byHost[host] {
		if n.Role != redisv1beta1.RoleReplica {
			continue
		}
		framework.PromoteReplica(t, net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port))))
	}
	framework.WaitFor(t, time.Minute, "every node to agree on two masters on "+host, func() (bool, error) {
		return f.InvariantsHold(rc), nil
	})
	lost := time.Now()
	for _, n := range byHost[host] {
		deletePod(t, ns, n.Pod)
	}
	t.Logf("deleted the pods of both masters on %s", host)
	next := f.StartOperator(t)
	next.WaitReconciles(t, ns, 2, time.Minute) // the status is the killed operator's until then
	rc = f.WaitReady(t, ns, "majority", 3*time.Minute)
	t.Logf("Ready again %s after the loss", time.Since(lost).Round(time.Second))
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), "majority", 20000)
}
