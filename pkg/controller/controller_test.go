package controller

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/generated/clientset/versioned/fake"
	informers "redis-operator/pkg/generated/informers/externalversions"
	"redis-operator/pkg/redisops"
)

// fixture holds fake clientsets and the objects to seed both them and the informer indexers,
// in the manner of sample-controller: run one sync, then compare the recorded API actions.
type fixture struct {
	t           *testing.T
	redisClient *fake.Clientset
	kubeClient  *kubefake.Clientset
	// redis is the Redis seam every sync talks to.
	redis *fakeRedis

	clusters []*redisv1beta1.RedisCluster
	pods     []*corev1.Pod
	services []*corev1.Service
	secrets  []*corev1.Secret
	budgets  []*policyv1.PodDisruptionBudget
	claims   []*corev1.PersistentVolumeClaim
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t}
}

func (f *fixture) newController() (*Controller, informers.SharedInformerFactory, kubeinformers.SharedInformerFactory) {
	var redisObjects, kubeObjects []runtime.Object
	for _, rc := range f.clusters {
		redisObjects = append(redisObjects, rc)
	}
	for _, pod := range f.pods {
		kubeObjects = append(kubeObjects, pod)
	}
	for _, svc := range f.services {
		kubeObjects = append(kubeObjects, svc)
	}
	for _, secret := range f.secrets {
		kubeObjects = append(kubeObjects, secret)
	}
	for _, b := range f.budgets {
		kubeObjects = append(kubeObjects, b)
	}
	for _, claim := range f.claims {
		kubeObjects = append(kubeObjects, claim)
	}
	// NewClientset's field tracker needs OpenAPI models the generated CRD client does not ship.
	f.redisClient = fake.NewSimpleClientset(redisObjects...) //nolint:staticcheck
	f.redisClient.PrependReactor("patch", "redisclusters", applyStatus(f.redisClient.Tracker()))
	f.kubeClient = kubefake.NewClientset(kubeObjects...)

	redisInformers := informers.NewSharedInformerFactory(f.redisClient, 0)
	kubeInformers := kubeinformers.NewSharedInformerFactory(f.kubeClient, 0)
	if f.redis == nil {
		f.redis = &fakeRedis{}
	}
	c, err := New(f.kubeClient, f.redisClient, Informers{
		Clusters: redisInformers.Redis().V1beta1().RedisClusters(),
		Pods:     kubeInformers.Core().V1().Pods(),
		Services: kubeInformers.Core().V1().Services(),
		Claims:   kubeInformers.Core().V1().PersistentVolumeClaims(),
		Secrets:  kubeInformers.Core().V1().Secrets(),
		Nodes:    kubeInformers.Core().V1().Nodes(),
		Budgets:  kubeInformers.Policy().V1().PodDisruptionBudgets(),
	}, record.NewFakeRecorder(1000), NewMetrics(prometheus.NewRegistry()), zerolog.Nop(),
		Config{Connect: func(*tls.Config, ...string) redisops.Cluster { return f.redis }})
	require.NoError(f.t, err)

	for _, rc := range f.clusters {
		require.NoError(f.t, redisInformers.Redis().V1beta1().RedisClusters().Informer().GetIndexer().Add(rc))
	}
	for _, pod := range f.pods {
		require.NoError(f.t, kubeInformers.Core().V1().Pods().Informer().GetIndexer().Add(pod))
	}
	for _, svc := range f.services {
		require.NoError(f.t, kubeInformers.Core().V1().Services().Informer().GetIndexer().Add(svc))
	}
	for _, secret := range f.secrets {
		require.NoError(f.t, kubeInformers.Core().V1().Secrets().Informer().GetIndexer().Add(secret))
	}
	for _, b := range f.budgets {
		require.NoError(f.t, kubeInformers.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Add(b))
	}
	for _, claim := range f.claims {
		require.NoError(f.t, kubeInformers.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(claim))
	}
	return c, redisInformers, kubeInformers
}

// runSync syncs key once and returns the write actions the clientsets saw.
func (f *fixture) runSync(key cache.ObjectName) []core.Action {
	c, _, _ := f.newController()
	require.NoError(f.t, c.syncHandler(context.Background(), key))
	return writeActions(f.redisClient.Actions(), f.kubeClient.Actions())
}

// writeActions drops the reads (the informers' lists and watches, the status writer's one get of
// a cluster), keeping what a sync wrote.
func writeActions(lists ...[]core.Action) []core.Action {
	var out []core.Action
	for _, actions := range lists {
		for _, a := range actions {
			if a.GetVerb() == "list" || a.GetVerb() == "watch" || a.GetVerb() == "get" {
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

func ownedPod(rc *redisv1beta1.RedisCluster, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: rc.Namespace, Labels: objects.ClusterLabels(rc), ResourceVersion: "1",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rc, redisv1beta1.SchemeGroupVersion.WithKind("RedisCluster"))},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// startInformers runs the informers for real against the fake clientsets, so the event handlers
// are exercised as wired.
func startInformers(t *testing.T, c *Controller, factories ...interface{ Start(<-chan struct{}) }) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	require.True(t, cache.WaitForCacheSync(ctx.Done(), c.informersSynced...))
}

// drainQueue waits, bounded, until the queue holds at least want keys and takes them all out.
func drainQueue(t *testing.T, c *Controller, want int) []cache.ObjectName {
	t.Helper()
	require.Eventually(t, func() bool { return c.queue.Len() >= want }, 5*time.Second, 5*time.Millisecond)
	var keys []cache.ObjectName
	for c.queue.Len() > 0 {
		key, _ := c.queue.Get()
		c.queue.Done(key)
		c.queue.Forget(key)
		keys = append(keys, key)
	}
	return keys
}

func TestNewClusterIsEnqueued(t *testing.T) {
	f := newFixture(t)
	c, redisInformers, kubeInformers := f.newController()
	startInformers(t, c, redisInformers, kubeInformers)

	rc := testcluster.Cluster("rediscluster1")
	_, err := f.redisClient.RedisV1beta1().RedisClusters("cache").Create(context.Background(), rc, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, []cache.ObjectName{keyOf(rc)}, drainQueue(t, c, 1))
}

func TestOwnedPodChangeEnqueuesItsOwner(t *testing.T) {
	f := newFixture(t)
	rc := testcluster.Cluster("rediscluster1")
	f.clusters = append(f.clusters, rc)
	c, redisInformers, kubeInformers := f.newController()
	startInformers(t, c, redisInformers, kubeInformers)
	drainQueue(t, c, 1) // the informer's initial add of the cluster

	stranger := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: "cache"}}
	_, err := f.kubeClient.CoreV1().Pods("cache").Create(context.Background(), stranger, metav1.CreateOptions{})
	require.NoError(t, err)
	pod := ownedPod(rc, "rediscluster1-0")
	_, err = f.kubeClient.CoreV1().Pods("cache").Create(context.Background(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, []cache.ObjectName{keyOf(rc)}, drainQueue(t, c, 1))

	require.NoError(t, f.kubeClient.CoreV1().Pods("cache").Delete(context.Background(), pod.Name, metav1.DeleteOptions{}))
	require.Equal(t, []cache.ObjectName{keyOf(rc)}, drainQueue(t, c, 1))
}

func TestPodOfAnotherOwnerIsIgnored(t *testing.T) {
	f := newFixture(t)
	rc := testcluster.Cluster("rediscluster1")
	f.clusters = append(f.clusters, rc)
	c, _, _ := f.newController()

	replaced := rc.DeepCopy()
	replaced.UID = "an-earlier-cluster-of-the-same-name"
	c.handleObject(ownedPod(replaced, "old-pod"))
	c.handleObject(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "cache"}})
	c.handleObject(cache.DeletedFinalStateUnknown{Key: "cache/rediscluster1-0", Obj: ownedPod(rc, "rediscluster1-0")})
	require.Equal(t, 1, c.queue.Len(), "only the tombstone of a pod of the live cluster enqueues")
}

func TestSyncCreatesTheObjectsOfANewCluster(t *testing.T) {
	f := newFixture(t)
	rc := testcluster.Cluster("rediscluster1")
	f.clusters = append(f.clusters, rc)

	actions := f.runSync(keyOf(rc))
	var created []string
	statusWrites := 0
	for _, a := range actions {
		switch {
		case a.GetVerb() == "create":
			obj := a.(core.CreateAction).GetObject().(metav1.Object)
			created = append(created, a.GetResource().Resource+"/"+obj.GetName())
		case a.GetSubresource() == "status":
			statusWrites++
		}
	}
	require.Equal(t, []string{
		"secrets/rediscluster1-config", "services/rediscluster1-exporter",
		"poddisruptionbudgets/rediscluster1-masters", "poddisruptionbudgets/rediscluster1-shard-0",
		"poddisruptionbudgets/rediscluster1-shard-1", "poddisruptionbudgets/rediscluster1-shard-2",
		"pods/rediscluster1-0", "pods/rediscluster1-1", "pods/rediscluster1-2",
		"pods/rediscluster1-3", "pods/rediscluster1-4", "pods/rediscluster1-5",
	}, created)
	require.Equal(t, 1, statusWrites, "one status write")
	status := statusOf(t, actions)
	require.Equal(t, int64(1), status.ObservedGeneration)
	require.Equal(t, "app.kubernetes.io/instance=rediscluster1,app.kubernetes.io/managed-by=redis-operator", status.Selector)
	ready := meta.FindStatusCondition(status.Conditions, redisv1beta1.ConditionReady)
	require.Equal(t, metav1.ConditionFalse, ready.Status)
	require.Equal(t, plan.ReasonProvisioning, ready.Reason)
}

func TestSyncOfDeletedClusterDoesNothing(t *testing.T) {
	f := newFixture(t)
	require.Empty(t, f.runSync(cache.ObjectName{Namespace: "cache", Name: "gone"}))
}

func TestStatusIsAppliedWholeAndNotOntoAClusterOfTheSameName(t *testing.T) {
	f := newFixture(t)
	rc := testcluster.Cluster("rediscluster1")
	f.clusters = append(f.clusters, rc)
	c, _, _ := f.newController()
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))

	var applies []core.PatchAction
	for _, a := range writeActions(f.redisClient.Actions()) {
		require.Equal(t, "patch", a.GetVerb(), "status is applied, never updated")
		applies = append(applies, a.(core.PatchAction))
	}
	require.Len(t, applies, 1)
	require.Equal(t, types.ApplyPatchType, applies[0].GetPatchType())
	var applied redisv1beta1.RedisCluster
	require.NoError(t, json.Unmarshal(applies[0].GetPatch(), &applied))
	require.Equal(t, rc.UID, applied.UID, "bound to the cluster it was computed for")
	require.Empty(t, applied.ResourceVersion, "no resource version: nothing to conflict on")
	stored, err := f.redisClient.RedisV1beta1().RedisClusters("cache").Get(context.Background(), rc.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), stored.Status.ObservedGeneration)

	// Fields an older operator wrote with updates are taken over first, once: applying alone
	// would leave them (a finished migration's record among them) with the update's manager.
	older := testcluster.Cluster("older")
	older.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: fieldManager, Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "redis.redis/v1beta1", Subresource: "status", FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:status":{"f:migration":{".":{},"f:slotsDone":{}}}}`)}}
	f.redisClient.ClearActions()
	require.NoError(t, f.redisClient.Tracker().Add(older))
	_, err = c.status.write(context.Background(), older, redisv1beta1.RedisClusterStatus{ObservedGeneration: 1}, time.Now())
	require.NoError(t, err)
	var verbs []string
	for _, a := range writeActions(f.redisClient.Actions()) {
		verbs = append(verbs, a.GetVerb()+" "+string(a.(core.PatchAction).GetPatchType())+" "+a.GetSubresource())
	}
	require.Equal(t, []string{"patch application/json-patch+json ", "patch application/apply-patch+yaml status"}, verbs)

	// Deleted and created again between the read and the write: the new object is not written.
	again := rc.DeepCopy()
	again.UID, again.Status = "another-uid", redisv1beta1.RedisClusterStatus{}
	require.NoError(t, f.redisClient.Tracker().Update(redisv1beta1.SchemeGroupVersion.WithResource("redisclusters"), again, "cache"))
	status := stored.Status.DeepCopy()
	status.ReadyMasters = 3
	_, err = c.status.write(context.Background(), rc, *status, time.Now().Add(time.Minute))
	require.NoError(t, err)
	stored, err = f.redisClient.RedisV1beta1().RedisClusters("cache").Get(context.Background(), rc.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Empty(t, stored.Status.Conditions, "the status of the former cluster stays off the new one")
}

// applyStatus stands in for the API server's server-side apply of a cluster's status, which the
// fake clientset does not do for a custom resource: the applied status replaces the stored one
// (the operator owns all of it), and a uid other than the stored object's is a conflict.
func applyStatus(tracker core.ObjectTracker) core.ReactionFunc {
	return func(action core.Action) (bool, runtime.Object, error) {
		patch, ok := action.(core.PatchAction)
		if !ok || action.GetSubresource() != "status" || patch.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		var applied redisv1beta1.RedisCluster
		if err := json.Unmarshal(patch.GetPatch(), &applied); err != nil {
			return true, nil, err
		}
		obj, err := tracker.Get(action.GetResource(), action.GetNamespace(), patch.GetName())
		if err != nil {
			return true, nil, err
		}
		stored := obj.(*redisv1beta1.RedisCluster).DeepCopy()
		if applied.UID != "" && applied.UID != stored.UID {
			return true, nil, apierrors.NewConflict(redisv1beta1.Resource("redisclusters"), stored.Name, fmt.Errorf("uid mismatch"))
		}
		stored.Status = applied.Status
		if err := tracker.Update(action.GetResource(), stored, stored.Namespace); err != nil {
			return true, nil, err
		}
		return true, stored, nil
	}
}

func TestClusterNeedsSync(t *testing.T) {
	base := testcluster.Cluster("rediscluster1")
	statusOnly := base.DeepCopy()
	statusOnly.ResourceVersion = "2"
	statusOnly.Status.ReadyMasters = 3
	specChange := base.DeepCopy()
	specChange.ResourceVersion = "2"
	specChange.Generation = 2
	relabeled := base.DeepCopy()
	relabeled.ResourceVersion = "2"
	relabeled.Labels = map[string]string{"team": "cache"}
	deleting := base.DeepCopy()
	deleting.ResourceVersion = "2"
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}

	cases := []struct {
		name string
		cur  *redisv1beta1.RedisCluster
		want bool
	}{
		{"status written by the operator", statusOnly, false},
		{"spec changed", specChange, true},
		{"labels changed", relabeled, true},
		{"deletion started", deleting, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, clusterNeedsSync(base, tc.cur))
		})
	}
}

// The periodic resync of many clusters reaches the queue spread over half a period, not all at
// once, and still reaches it: a change to one cluster does not wait behind every other's check.
func TestResyncsAreSpreadOverHalfAPeriod(t *testing.T) {
	c, _, _ := newFixture(t).newController()
	c.resyncSpread = 400 * time.Millisecond
	started := time.Now()
	const clusters = 20
	for i := range clusters {
		c.enqueueResync(testcluster.Cluster(fmt.Sprintf("c%02d", i)))
	}
	require.Less(t, c.queue.Len(), clusters/2, "most resyncs wait for their moment")
	seen := map[cache.ObjectName]bool{}
	for len(seen) < clusters {
		key, _ := c.queue.Get()
		seen[key] = true
		c.queue.Done(key)
	}
	require.Less(t, time.Since(started), time.Second, "every resync arrives within the spread")
}
