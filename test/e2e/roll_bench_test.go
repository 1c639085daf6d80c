package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/e2e/framework"
)

const rollBenchKeys = 100000

// rollFigures are what one way of replacing every pod cost the cluster's clients.
type rollFigures struct {
	pods           int
	took, gap      time.Duration
	acked, refused int
	lostKeys       int
	lostAcked      string // CheckAcked's complaint; empty when every acknowledged write reads back
}

func (r rollFigures) lost() bool { return r.lostKeys > 0 || r.lostAcked != "" }

func (r rollFigures) String() string {
	lost := "nothing lost"
	if r.lost() {
		lost = fmt.Sprintf("LOST %d of %d keys", r.lostKeys, rollBenchKeys)
		if r.lostAcked != "" {
			lost += ", " + r.lostAcked
		}
	}
	return fmt.Sprintf("%d pods in %6.1f s, longest write gap %5.2f s, %5d writes refused (%d acknowledged), %s",
		r.pods, r.took.Seconds(), r.gap.Seconds(), r.refused, r.acked, lost)
}

// BenchmarkRoll replaces every pod of a loaded 3x1 cluster under 8 writers twice: by the
// operator's rolling update, and by deleting the pods one by one in index order as a
// StatefulSet would. Run it with hack/bench-roll.sh.
func BenchmarkRoll(b *testing.B) {
	op := f.StartOperator(b)
	rolling := measureRoll(b, op, "bench-roll", operatorRoll)
	naive := measureRoll(b, op, "bench-naive", naiveRoll)

	fmt.Printf("\n3x1 cluster, %d keys, 8 writers\n", rollBenchKeys)
	fmt.Printf("%-30s %v\n", "rolling update:", rolling)
	fmt.Printf("%-30s %v\n", "naive roll (delete each pod):", naive)
	b.ReportMetric(rolling.took.Seconds(), "s/rolling-update")
	b.ReportMetric(rolling.gap.Seconds(), "s/rolling-update-gap")
	b.ReportMetric(naive.took.Seconds(), "s/naive-roll")
	b.ReportMetric(naive.gap.Seconds(), "s/naive-roll-gap")
	if rolling.lost() || naive.lost() {
		b.Fatal("a key or an acknowledged write was lost")
	}
}

// measureRoll loads a fresh cluster, runs roll under writers, and checks what reads back. The
// namespace is deleted before returning, so the next roll has the machine to itself.
func measureRoll(b *testing.B, op *framework.Operator, name string, roll func(b *testing.B, ns, name string) int) rollFigures {
	rc := f.ReadyCluster(b, name, framework.RunBy(op))
	ns := rc.Namespace
	framework.WriteKeys(b, framework.ClusterClient(b, rc), "before", rollBenchKeys)

	const writers, maxWrites = 8, 1000000
	w := framework.StartWriters(framework.ClusterClient(b, rc), writers, maxWrites)
	started := time.Now()
	pods := roll(b, ns, name)
	took := time.Since(started)
	w.Halt()
	if w.Acked()+w.Fails() >= writers*maxWrites {
		b.Fatal("the writers stopped at their bound before the roll ended; the longest gap would be understated")
	}

	rc = f.WaitReady(b, ns, name, time.Minute)
	f.CheckInvariants(b, rc)
	client := framework.ClusterClient(b, rc)
	acked := &keepGoing{TB: b}
	w.CheckAcked(acked, client)
	figures := rollFigures{
		pods: pods, took: took, gap: w.LongestGap(), acked: w.Acked(), refused: w.Fails(),
		lostKeys: len(framework.MissingKeys(b, client, "before", rollBenchKeys)), lostAcked: acked.failure,
	}
	f.DeleteNamespace(b, ns)
	return figures
}

// keepGoing records a helper's Fatal instead of ending the benchmark, so both rolls are
// printed before a loss fails it.
type keepGoing struct {
	testing.TB
	failure string
}

func (k *keepGoing) Fatal(args ...any)                 { k.failure = fmt.Sprint(args...) }
func (k *keepGoing) Fatalf(format string, args ...any) { k.failure = fmt.Sprintf(format, args...) }

// operatorRoll patches spec.resources and waits until the operator reports every pod updated.
func operatorRoll(b *testing.B, ns, name string) int {
	before := podUIDs(b, ns, name)
	if _, err := f.Redis.RedisV1beta1().RedisClusters(ns).Patch(context.Background(), name, types.MergePatchType,
		[]byte(resourcesPatch), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	framework.WaitFor(b, 10*time.Minute, "every pod to be replaced and the cluster Ready", func() (bool, error) {
		cur := f.Cluster(b, ns, name)
		return cur.Status.ObservedGeneration == cur.Generation && cur.Status.UpdatedNodes == int32(cur.Spec.NodeCount()) &&
			meta.IsStatusConditionFalse(cur.Status.Conditions, redisv1beta1.ConditionUpdating) &&
			meta.IsStatusConditionTrue(cur.Status.Conditions, redisv1beta1.ConditionReady), nil
	})
	after := podUIDs(b, ns, name)
	var kept []string
	for pod, uid := range before {
		if after[pod] == uid {
			kept = append(kept, pod)
		}
	}
	if len(kept) > 0 || len(after) != len(before) {
		b.Fatalf("the roll left pods %v unreplaced, or the pods went from %d to %d", kept, len(before), len(after))
	}
	return len(before)
}

// naiveRoll deletes the pods in index order, each after the previous one's replacement has
// joined and the cluster is Ready again, as a StatefulSet's rolling update would.
func naiveRoll(b *testing.B, ns, name string) int {
	pods := f.Kube.CoreV1().Pods(ns)
	count := f.Cluster(b, ns, name).Spec.NodeCount()
	for i := 0; i < count; i++ {
		pod := fmt.Sprintf("%s-%d", name, i)
		old, err := pods.Get(context.Background(), pod, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		deleted := time.Now()
		if err := pods.Delete(context.Background(), pod, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		framework.WaitFor(b, 3*time.Minute, pod+" to be recreated", func() (bool, error) {
			cur, err := pods.Get(context.Background(), pod, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil && cur.UID != old.UID && cur.DeletionTimestamp == nil && cur.Status.Phase == corev1.PodRunning, err
		})
		// The status may still be the Ready one from before the delete; the nodes
		// themselves say whether the new one has joined.
		framework.WaitFor(b, 3*time.Minute, "the cluster to be Ready with the new "+pod, func() (bool, error) {
			cur := f.Cluster(b, ns, name)
			ready := cur.Status.ObservedGeneration == cur.Generation &&
				meta.IsStatusConditionTrue(cur.Status.Conditions, redisv1beta1.ConditionReady)
			return ready && f.InvariantsHold(cur), nil
		})
		b.Logf("%s deleted, replaced and the cluster Ready in %.1f s", pod, time.Since(deleted).Seconds())
	}
	return count
}
