package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/httpapi"
	"redis-operator/test/e2e/framework"
)

// handledAlert is the operator's log line for one alert its webhook handled.
type handledAlert struct {
	Message   string `json:"message"`
	Alert     string `json:"alert"`
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason"`
	From      int32  `json:"from"`
	To        int32  `json:"to"`
}

// handledAlerts are the alerts named alert for ns/cluster the operator logged, oldest first.
func handledAlerts(t *testing.T, op *framework.Operator, ns, cluster, alert string) []handledAlert {
	t.Helper()
	raw, err := os.ReadFile(op.LogPath)
	require.NoError(t, err)
	var out []handledAlert
	lines := bufio.NewScanner(bytes.NewReader(raw))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var h handledAlert
		if json.Unmarshal(lines.Bytes(), &h) == nil && h.Message == "alert handled" &&
			h.Alert == alert && h.Namespace == ns && h.Cluster == cluster {
			out = append(out, h)
		}
	}
	return out
}

// alertInstance is one firing of an alert, as Prometheus posts it to Alertmanager: the same
// labels every time, and a new start time each time the alert fires anew.
type alertInstance struct {
	labels   map[string]string
	startsAt time.Time
}

// autoscaler drives the operator through a real Alertmanager and follows what the webhook did.
type autoscaler struct {
	t       *testing.T
	op      *framework.Operator
	am      *framework.Alertmanager
	ns, rdc string
}

// fire posts a new firing instance of alert and returns it with what the webhook did with it.
func (a *autoscaler) fire(alert string) (alertInstance, handledAlert) {
	a.t.Helper()
	inst := alertInstance{
		labels:   map[string]string{"alertname": alert, "redis_cluster": a.rdc, "namespace": a.ns, "severity": "warning"},
		startsAt: time.Now().UTC(),
	}
	seen := len(handledAlerts(a.t, a.op, a.ns, a.rdc, alert))
	a.am.PostAlerts(a.t, framework.PostableAlert{
		Labels: inst.labels, Annotations: map[string]string{"scale_count": "1"}, StartsAt: &inst.startsAt,
	})
	return inst, a.handled(alert, seen)
}

// resolve posts inst as resolved, as Prometheus does once the condition clears, and waits until
// Alertmanager has delivered the resolution and the webhook ignored it.
func (a *autoscaler) resolve(inst alertInstance) {
	a.t.Helper()
	alert := inst.labels["alertname"]
	seen := len(handledAlerts(a.t, a.op, a.ns, a.rdc, alert))
	now := time.Now().UTC()
	a.am.PostAlerts(a.t, framework.PostableAlert{
		Labels: inst.labels, Annotations: map[string]string{"scale_count": "1"}, StartsAt: &inst.startsAt, EndsAt: &now,
	})
	got := a.handled(alert, seen)
	require.Equal(a.t, httpapi.OutcomeIgnored, got.Outcome, "%+v", got)
	require.Equal(a.t, "resolved", got.Reason, "%+v", got)
}

// handled waits for the webhook's handling of alert after the first seen ones.
func (a *autoscaler) handled(alert string, seen int) handledAlert {
	a.t.Helper()
	var all []handledAlert
	framework.WaitFor(a.t, 30*time.Second, "Alertmanager to deliver "+alert+" to the operator", func() (bool, error) {
		all = handledAlerts(a.t, a.op, a.ns, a.rdc, alert)
		return len(all) > seen, nil
	})
	a.t.Logf("webhook handled %s: %+v", alert, all[seen])
	return all[seen]
}

// waitEvent waits for an Autoscaled Event naming alert.
func (a *autoscaler) waitEvent(alert string) {
	a.t.Helper()
	framework.WaitFor(a.t, 10*time.Second, "an Autoscaled event naming "+alert, func() (bool, error) {
		events, err := f.Kube.CoreV1().Events(a.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == httpapi.ReasonAutoscaled && e.InvolvedObject.Name == a.rdc && strings.Contains(e.Message, alert) {
				return true, nil
			}
		}
		return false, nil
	})
}

// unchanged checks a skipped alert changed nothing: the same generation, masters and autoscale
// time (written with every change the webhook makes). The webhook writes the cluster before it
// logs the alert handled, and fire has seen that line, so a wrong write would be there now.
func (a *autoscaler) unchanged(before *redisv1beta1.RedisCluster) {
	a.t.Helper()
	rc := f.Cluster(a.t, a.ns, a.rdc)
	require.Equal(a.t, before.Generation, rc.Generation)
	require.Equal(a.t, before.Spec.Masters, rc.Spec.Masters)
	require.Equal(a.t, before.Annotations[httpapi.AnnotationLastAutoscale], rc.Annotations[httpapi.AnnotationLastAutoscale])
}

// pastCooldown waits until the cluster's last scale is further back than its cooldown, as the
// webhook reckons it: from the later of status.lastScaleTime and the autoscale annotation.
func (a *autoscaler) pastCooldown() {
	a.t.Helper()
	framework.WaitFor(a.t, time.Minute, "the scale cooldown to pass", func() (bool, error) {
		rc := f.Cluster(a.t, a.ns, a.rdc)
		var last time.Time
		if rc.Status.LastScaleTime != nil {
			last = rc.Status.LastScaleTime.Time
		}
		if at, err := time.Parse(time.RFC3339, rc.Annotations[httpapi.AnnotationLastAutoscale]); err == nil && at.After(last) {
			last = at
		}
		left := rc.Spec.ScaleCooldownDuration() - time.Since(last)
		return left < 0, fmt.Errorf("%s left", left)
	})
}

// Alertmanager sends a group again before repeat_interval only when the group's firing alerts
// include one its last notification did not (or, with send_resolved, when alerts resolve). Posting
// the same labels again merely refreshes the alert Alertmanager holds, so nothing is sent. A real
// Prometheus sends "the same alert again" only after it resolved and fired anew: the resolution is
// delivered, the group's last notification then holds no firing alert, and the new instance (same
// labels, same fingerprint, a later startsAt) is delivered. The test does exactly that.
func TestAlertmanagerScalesAClusterThroughTheWebhook(t *testing.T) {
	tokenFile := writeToken(t, "am-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	op := f.StartOperator(t, "--webhook-token-file", tokenFile)
	// The alert the chart's rules raise, HighMemoryUsage{redis_cluster="rediscluster1",
	// namespace="cache"}, for the seed manifest's cluster.
	ns, name := framework.SeedNamespace, framework.SeedCluster
	f.ApplySeed(t)
	f.WaitReady(t, ns, name, 2*time.Minute)
	// Long enough that the second alert surely comes inside it, however slow the scale-out; it
	// is shortened below for the alert meant to come after it.
	_, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), name, types.MergePatchType,
		[]byte(`{"spec":{"scaleCooldown":"1h"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	rc := f.WaitReady(t, ns, name, 30*time.Second)
	framework.WriteKeys(t, framework.ClusterClient(t, rc), name, 20000)
	am := f.StartAlertmanager(t, "http://"+op.HTTPAddr+"/webhooks/alertmanager", tokenFile)
	a := &autoscaler{t: t, op: op, am: am, ns: ns, rdc: name}

	// High memory: one more master, then a Ready cluster of 8 nodes with every key.
	high, got := a.fire("HighMemoryUsage")
	require.Equal(t, httpapi.OutcomeScaled, got.Outcome, "%+v", got)
	require.Equal(t, [2]int32{3, 4}, [2]int32{got.From, got.To})
	a.waitEvent("HighMemoryUsage")
	rc = f.WaitReady(t, ns, name, 3*time.Minute)
	require.EqualValues(t, 4, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	checkDiscovery(t, op, rc, "clusterName="+name+"&namespace="+ns)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), name, 20000)

	// The same alert again, inside the cooldown: skipped, nothing changes.
	a.resolve(high)
	high, got = a.fire("HighMemoryUsage")
	require.Equal(t, httpapi.OutcomeSkipped, got.Outcome, "%+v", got)
	require.True(t, strings.HasPrefix(got.Reason, httpapi.SkipCooldown), "%+v", got)
	a.unchanged(rc)
	a.resolve(high)

	// After the cooldown, low memory: back to 3 masters without losing a key.
	_, err = f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), name, types.MergePatchType,
		[]byte(`{"spec":{"scaleCooldown":"1s"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	f.WaitReady(t, ns, name, 30*time.Second)
	a.pastCooldown()
	low, got := a.fire("LowMemoryUsage")
	require.Equal(t, httpapi.OutcomeScaled, got.Outcome, "%+v", got)
	require.Equal(t, [2]int32{4, 3}, [2]int32{got.From, got.To})
	a.waitEvent("LowMemoryUsage")
	scaledOut := rc.Annotations[httpapi.AnnotationLastAutoscale]
	rc = f.WaitReady(t, ns, name, 3*time.Minute)
	require.NotEqual(t, scaledOut, rc.Annotations[httpapi.AnnotationLastAutoscale], "the scale-in is recorded")
	require.EqualValues(t, 3, rc.Status.ReadyMasters)
	f.CheckInvariants(t, rc)
	framework.CheckKeys(t, framework.ClusterClient(t, rc), name, 20000)
	framework.WaitFor(t, 30*time.Second, "the removed nodes' pods to be gone", func() (bool, error) {
		return countPods(t, ns) == 6, nil
	})
	checkDiscovery(t, op, rc, "clusterName="+name+"&namespace="+ns)

	// At minMasters, low memory again changes nothing.
	a.resolve(low)
	a.pastCooldown() // so the bound is what refuses it
	_, got = a.fire("LowMemoryUsage")
	require.Equal(t, httpapi.OutcomeSkipped, got.Outcome, "%+v", got)
	require.True(t, strings.HasPrefix(got.Reason, httpapi.SkipBound), "%+v", got)
	a.unchanged(rc)
}
