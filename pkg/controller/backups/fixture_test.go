package backups

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
	"redis-operator/pkg/generated/clientset/versioned/fake"
	informers "redis-operator/pkg/generated/informers/externalversions"
)

const (
	ns          = "prod"
	clusterName = "cache"
	backupUID   = "uid-1"
)

// now is the controller's fixed clock.
var now = time.Date(2024, 5, 1, 12, 0, 30, 0, time.UTC)

// fakeStore is a destination held in maps.
type fakeStore struct {
	mu        sync.Mutex
	records   map[string]map[int]*backup.ShardRecord // backup name → shard index → record
	manifests map[string]*backup.Manifest
	deleted   []string
	deleteErr error
	// opened are the store prefixes the controller opened, with the credentials it passed.
	opened []string
	creds  []Credentials
}

func newFakeStore() *fakeStore {
	return &fakeStore{records: map[string]map[int]*backup.ShardRecord{}, manifests: map[string]*backup.Manifest{}}
}

func (s *fakeStore) open(_ context.Context, _ *redisv1beta1.BackupDestination, prefix string, creds Credentials) (Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened, s.creds = append(s.opened, prefix), append(s.creds, creds)
	return s, nil
}

func (s *fakeStore) ReadShardRecord(_ context.Context, name string, index int) (*backup.ShardRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.records[name][index]; ok {
		return rec, nil
	}
	return nil, fmt.Errorf("record of shard %d of %s not found", index, name)
}

func (s *fakeStore) WriteManifest(_ context.Context, m *backup.Manifest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.manifests[m.Name] = m
	return nil
}

func (s *fakeStore) ReadManifest(_ context.Context, name string) (*backup.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.manifests[name]; ok {
		return m, nil
	}
	return nil, backup.ErrNoManifest
}

func (s *fakeStore) DeleteBackup(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleteErr != nil {
		return s.deleteErr
	}
	s.deleted = append(s.deleted, name)
	return nil
}

func (s *fakeStore) putRecord(name string, rec backup.ShardRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records[name] == nil {
		s.records[name] = map[int]*backup.ShardRecord{}
	}
	s.records[name][rec.Index] = &rec
}

// fixture is a controller on fake clientsets whose informers' indexers are filled by hand.
type fixture struct {
	t        *testing.T
	c        *Controller
	kube     *kubefake.Clientset
	redis    *fake.Clientset
	store    *fakeStore
	recorder *record.FakeRecorder
	redisInf informers.SharedInformerFactory
	kubeInf  kubeinformers.SharedInformerFactory
}

// newFixture seeds both the clientsets and the indexers with objs.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	var redisObjs, kubeObjs []runtime.Object
	for _, o := range objs {
		switch o.(type) {
		case *redisv1beta1.RedisCluster, *redisv1beta1.RedisClusterBackup:
			redisObjs = append(redisObjs, o)
		default:
			kubeObjs = append(kubeObjs, o)
		}
	}
	f := &fixture{t: t, store: newFakeStore(), recorder: record.NewFakeRecorder(100)}
	// NewClientset's field tracker needs OpenAPI models the generated CRD client does not ship.
	f.redis = fake.NewSimpleClientset(redisObjs...) //nolint:staticcheck
	f.kube = kubefake.NewClientset(kubeObjs...)
	f.redisInf = informers.NewSharedInformerFactory(f.redis, 0)
	f.kubeInf = kubeinformers.NewSharedInformerFactory(f.kube, 0)
	c, err := New(f.kube, f.redis, Informers{
		Backups:  f.redisInf.Redis().V1beta1().RedisClusterBackups(),
		Clusters: f.redisInf.Redis().V1beta1().RedisClusters(),
		Jobs:     f.kubeInf.Batch().V1().Jobs(),
		Secrets:  f.kubeInf.Core().V1().Secrets(),
	}, f.recorder, zerolog.Nop(), Config{Image: "operator:test", Open: f.store.open, Now: func() time.Time { return now }})
	require.NoError(t, err)
	f.c = c
	for _, o := range objs {
		require.NoError(t, f.indexer(o).Add(o))
	}
	return f
}

func (f *fixture) indexer(o runtime.Object) cache.Indexer {
	switch o.(type) {
	case *redisv1beta1.RedisCluster:
		return f.redisInf.Redis().V1beta1().RedisClusters().Informer().GetIndexer()
	case *redisv1beta1.RedisClusterBackup:
		return f.redisInf.Redis().V1beta1().RedisClusterBackups().Informer().GetIndexer()
	case *batchv1.Job:
		return f.kubeInf.Batch().V1().Jobs().Informer().GetIndexer()
	case *corev1.Secret:
		return f.kubeInf.Core().V1().Secrets().Informer().GetIndexer()
	}
	f.t.Fatalf("no indexer for %T", o)
	return nil
}

// syncBackup syncs backup name once and fails the test on an error.
func (f *fixture) syncBackup(name string) time.Duration {
	f.t.Helper()
	requeue, err := f.c.syncBackup(context.Background(), cache.ObjectName{Namespace: ns, Name: name})
	require.NoError(f.t, err)
	return requeue
}

// backup is backup name as the fake API server holds it.
func (f *fixture) backup(name string) *redisv1beta1.RedisClusterBackup {
	f.t.Helper()
	b, err := f.redis.RedisV1beta1().RedisClusterBackups(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(f.t, err)
	return b
}

// observe puts the API server's backup name in the indexer, as the informer would.
func (f *fixture) observe(name string) *redisv1beta1.RedisClusterBackup {
	f.t.Helper()
	b := f.backup(name)
	require.NoError(f.t, f.indexer(b).Update(b))
	return b
}

// update replaces o in the indexer, as the informer would see a change.
func (f *fixture) update(o runtime.Object) {
	f.t.Helper()
	require.NoError(f.t, f.indexer(o).Update(o))
}

// createdJobs are the Jobs the controller created in the fake API server.
func (f *fixture) createdJobs() []*batchv1.Job {
	var jobs []*batchv1.Job
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "jobs" {
			jobs = append(jobs, a.(core.CreateAction).GetObject().(*batchv1.Job))
		}
	}
	return jobs
}

// writes are the actions of verb on resource of a clientset.
func writes(actions []core.Action, verb, resource string) []core.Action {
	var out []core.Action
	for _, a := range actions {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

// events drains the recorder.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func destination() redisv1beta1.BackupDestination {
	return redisv1beta1.BackupDestination{Endpoint: "minio:9000", Region: "us-east-1", Bucket: "bucket",
		Prefix: "backups/redis", CredentialsSecret: "s3-creds"}
}

func credentials() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3-creds", Namespace: ns},
		Data: map[string][]byte{AccessKeyIDKey: []byte("AKID"), SecretAccessKeyKey: []byte("SECRET")}}
}

func node(pod, role, id, master, ip string, port int32, ready bool, slots ...string) redisv1beta1.NodeStatus {
	return redisv1beta1.NodeStatus{Pod: pod, Role: role, NodeID: id, MasterNodeID: master, IP: ip, Port: port,
		Ready: ready, Slots: slots}
}

// readyCluster is a Ready 3x1 cluster whose masters are listed out of slot order, the middle
// shard's ranges out of order too (its first-listed range is after the last shard's), and
// whose replica of the middle shard is not ready.
func readyCluster() *redisv1beta1.RedisCluster {
	return &redisv1beta1.RedisCluster{
		ObjectMeta: metav1.ObjectMeta{Name: clusterName, Namespace: ns, UID: "rc-uid",
			CreationTimestamp: metav1.NewTime(now.Add(-10 * time.Minute))},
		Spec: redisv1beta1.RedisClusterSpec{Masters: 3, Replicas: 1, BasePort: 7000,
			Backup: &redisv1beta1.BackupSpec{Destination: destination(), Keep: 7}},
		Status: redisv1beta1.RedisClusterStatus{
			Conditions: []metav1.Condition{{Type: redisv1beta1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready"}},
			Nodes: []redisv1beta1.NodeStatus{
				node("cache-0", redisv1beta1.RoleMaster, "m-high", "", "10.0.0.1", 7000, true, "10923-15999"),
				node("cache-1", redisv1beta1.RoleMaster, "m-low", "", "10.0.0.2", 7001, true, "0-5460"),
				node("cache-2", redisv1beta1.RoleMaster, "m-mid", "", "10.0.0.3", 7002, true, "16000-16383", "5461-10922"),
				node("cache-3", redisv1beta1.RoleReplica, "r-low", "m-low", "10.0.0.4", 7003, true),
				node("cache-4", redisv1beta1.RoleReplica, "r-mid", "m-mid", "10.0.0.5", 7004, false),
				node("cache-5", redisv1beta1.RoleReplica, "r-high", "m-high", "10.0.0.6", 7005, true),
			},
		},
	}
}

func newBackup(name string) *redisv1beta1.RedisClusterBackup {
	return &redisv1beta1.RedisClusterBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(backupUID)},
		Spec:       redisv1beta1.RedisClusterBackupSpec{ClusterName: clusterName},
	}
}

// withCondition is job j with condition t True.
func withCondition(j *batchv1.Job, t batchv1.JobConditionType, reason, message string) *batchv1.Job {
	j = j.DeepCopy()
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue,
		Reason: reason, Message: message})
	return j
}
