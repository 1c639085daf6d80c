package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	core "k8s.io/client-go/testing"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
)

// fakeRedis is the Redis seam of the fixture tests: View answers with a prepared view, and every
// other call is recorded as one line of text.
type fakeRedis struct {
	mu    sync.Mutex
	view  *topology.ClusterView
	calls []string
	// then, when set, is the view from the second View on: the cluster changed after the sync
	// observed it.
	then *topology.ClusterView
	// slotBytes is what SlotMemory answers for a slot: 0 when not listed; without it, SlotMemory
	// fails and the plan estimates from each source's dataset memory.
	slotBytes map[int]int64
}

func (r *fakeRedis) record(format string, args ...interface{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// writes returns the calls recorded so far and forgets them.
func (r *fakeRedis) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func (r *fakeRedis) View(_ context.Context, addrs []string) *topology.ClusterView {
	r.mu.Lock()
	seen := r.view
	if r.then != nil {
		r.view = r.then
	}
	r.mu.Unlock()
	view := &topology.ClusterView{Nodes: map[string]*topology.NodeState{}}
	for _, addr := range addrs {
		if state, ok := seen.Nodes[addr]; ok {
			view.Nodes[addr] = state
		} else {
			view.Nodes[addr] = &topology.NodeState{Addr: addr, Err: fmt.Errorf("connection refused")}
		}
	}
	return view
}

// ReadConfig leaves every node's Config unread: the fixture tests' nodes run what their pods say.
func (r *fakeRedis) ReadConfig(context.Context, *topology.ClusterView, []string) {}

func (r *fakeRedis) Meet(_ context.Context, addr, ip string, port, busPort int) error {
	r.record("meet %s -> %s:%d@%d", addr, ip, port, busPort)
	return nil
}

func (r *fakeRedis) AddSlots(_ context.Context, addr string, ranges []topology.SlotRange, epoch int64) error {
	r.record("addslots %s %s epoch %d", addr, strings.Join(topology.FormatRanges(ranges), ","), epoch)
	return nil
}

func (r *fakeRedis) ClaimSlots(_ context.Context, node *topology.NodeState, ranges []topology.SlotRange) error {
	r.record("claim %s %s", node.Addr, strings.Join(topology.FormatRanges(ranges), ","))
	return nil
}

func (r *fakeRedis) Replicate(_ context.Context, addr, masterID string) error {
	r.record("replicate %s %s", addr, masterID)
	return nil
}

func (r *fakeRedis) Failover(_ context.Context, addr string, mode topology.FailoverMode) error {
	r.record("failover %s %s", addr, mode)
	return nil
}

func (r *fakeRedis) ForgetEverywhere(_ context.Context, _ *topology.ClusterView, id string) error {
	r.record("forget %s", id)
	return nil
}

func (r *fakeRedis) PointOwner(_ context.Context, addr string, slots []int, ownerID string) error {
	r.record("pointowner %s %s %s", addr, topology.SlotList(slots), ownerID)
	return nil
}

func (r *fakeRedis) MoveSlots(_ context.Context, source, target redisops.Endpoint, slots []int, _ []string,
	progress func(int)) ([]int, error) {
	r.record("move %s -> %s %s", source.ID, target.ID, topology.SlotList(slots))
	if progress != nil {
		progress(len(slots))
	}
	return slots, nil
}

func (r *fakeRedis) RepairOpenSlot(_ context.Context, _ *topology.ClusterView, slot int, owner string) (redisops.Repair, error) {
	r.record("repair %d owner %s", slot, owner)
	return redisops.Repair{Slot: slot, Owner: owner}, nil
}

func (r *fakeRedis) SlotMemory(_ context.Context, addr string, slots []int) (topology.SlotMemory, error) {
	if r.slotBytes == nil {
		return topology.SlotMemory{}, fmt.Errorf("no estimate on %s", addr)
	}
	est := topology.SlotMemory{Bytes: map[int]int64{}, Sampled: len(slots)}
	for _, slot := range slots {
		est.Bytes[slot] = r.slotBytes[slot]
		if est.Bytes[slot] > 0 {
			est.Keys++
		}
	}
	return est, nil
}

func (r *fakeRedis) Drop(addr string) { r.record("drop %s", addr) }
func (r *fakeRedis) Close()           {}

// liveFixture is a fixture whose cluster runs: a ready pod for every fake node with a pod, at
// the address the node answers on, and the exporter Service.
func liveFixture(t *testing.T, rc *redisv1beta1.RedisCluster, nodes ...testcluster.Node) *fixture {
	f := newFixture(t)
	f.clusters = append(f.clusters, rc)
	f.services = append(f.services, objects.ExporterService(rc))
	secret := objects.ConfigSecret(rc, "", "exporter-secret", nil, nil, false)
	f.secrets = append(f.secrets, secret)
	f.redis = &fakeRedis{view: testcluster.View(nodes...)}
	shards := testcluster.Shards(nodes...)
	for _, n := range nodes {
		if n.NoPod {
			continue
		}
		pod := objects.Pod(rc, n.Index)
		for k, v := range objects.LiveAnnotations(rc, secret) {
			pod.Annotations[k] = v
		}
		if s, ok := shards[n.ID]; ok {
			pod.Labels[objects.LabelRole], pod.Labels[objects.LabelShard] = "master", strconv.Itoa(s)
		} else if s, ok := shards[n.MasterID]; ok && !n.Master {
			pod.Labels[objects.LabelRole], pod.Labels[objects.LabelShard] = "replica", strconv.Itoa(s)
		}
		pod.ResourceVersion = "1"
		pod.Spec.NodeName = n.Host
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: strings.Split(testcluster.Addr(n.Index), ":")[0],
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		f.pods = append(f.pods, pod)
	}
	// The budgets as the last sync left them: every pod labelled master kept, one replica
	// per shard free to go.
	masters := int32(0)
	for _, p := range f.pods {
		if p.Labels[objects.LabelRole] == "master" {
			masters++
		}
	}
	f.budgets = []*policyv1.PodDisruptionBudget{objects.MastersBudget(rc, masters)}
	for k := range int(rc.Spec.Masters) {
		f.budgets = append(f.budgets, objects.ShardBudget(rc, k, max(rc.Spec.Replicas-1, 0)))
	}
	return f
}

// apiWrites names the writes of a sync as verb resource/name, the status as "apply status".
func apiWrites(actions []core.Action) []string {
	var out []string
	for _, a := range actions {
		switch a.GetVerb() {
		case "create":
			out = append(out, "create "+a.GetResource().Resource+"/"+a.(core.CreateAction).GetObject().(metav1.Object).GetName())
		case "delete":
			out = append(out, "delete "+a.GetResource().Resource+"/"+a.(core.DeleteAction).GetName())
		case "update":
			out = append(out, "update "+a.GetSubresource())
		case "patch":
			if a.GetSubresource() == "status" {
				out = append(out, "apply status")
				continue
			}
			out = append(out, "patch "+a.GetResource().Resource+"/"+a.(core.PatchAction).GetName())
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

// statusOf returns the status the sync wrote last.
func statusOf(t *testing.T, actions []core.Action) redisv1beta1.RedisClusterStatus {
	t.Helper()
	for i := len(actions) - 1; i >= 0; i-- {
		if p, ok := actions[i].(core.PatchAction); ok && p.GetSubresource() == "status" {
			var applied redisv1beta1.RedisCluster
			require.NoError(t, json.Unmarshal(p.GetPatch(), &applied))
			return applied.Status
		}
	}
	t.Fatal("no status written")
	return redisv1beta1.RedisClusterStatus{}
}

func TestActBootstrapsANewCluster(t *testing.T) {
	rc := testcluster.Cluster("rc")
	f := liveFixture(t, rc, testcluster.EmptyNodes(6, false)...)
	actions := f.runSync(keyOf(rc))

	require.Equal(t, []string{
		"addslots " + testcluster.Addr(0) + " 0-5461 epoch 1",
		"addslots " + testcluster.Addr(1) + " 5462-10922 epoch 2",
		"addslots " + testcluster.Addr(2) + " 10923-16383 epoch 3",
	}, f.redis.writes())
	require.Equal(t, []string{"apply status"}, apiWrites(actions))
	ready := meta.FindStatusCondition(statusOf(t, actions).Conditions, redisv1beta1.ConditionReady)
	require.Equal(t, metav1.ConditionFalse, ready.Status)
}

func TestActHealsALostMaster(t *testing.T) {
	// Master 0's pod is gone; its replica, node 3, took over its slots. The dead id is
	// forgotten and the pod comes back to join as a new node.
	rc := testcluster.Cluster("rc")
	nodes := testcluster.Healthy()
	nodes[0].NoPod = true
	nodes[3].Master, nodes[3].MasterID, nodes[3].Slots = true, "", topology.EvenSplit(3)[0:1]
	dead := topology.NodeView{ID: "m0", Addr: testcluster.Addr(0), Flags: map[string]bool{"master": true, "fail": true}}
	for i := 1; i < len(nodes); i++ {
		nodes[i].Ghosts = []topology.NodeView{dead}
	}
	rc.Status.Nodes = []redisv1beta1.NodeStatus{{Pod: "rc-0", Role: redisv1beta1.RoleMaster, NodeID: "m0", Slots: []string{"0-5461"}}}
	f := liveFixture(t, rc, nodes...)
	actions := f.runSync(keyOf(rc))

	require.Equal(t, []string{"forget m0"}, f.redis.writes())
	require.ElementsMatch(t, []string{"create pods/rc-0", "apply status"}, apiWrites(actions))
}

func TestActHoldsALostMastersPodUntilItsReplicaTookOver(t *testing.T) {
	rc := testcluster.Cluster("rc")
	nodes := testcluster.Healthy()
	nodes[0].NoPod = true
	lost := topology.NodeView{ID: "m0", Addr: testcluster.Addr(0), Flags: map[string]bool{"master": true, "fail?": true},
		Slots: topology.EvenSplit(3)[0:1]}
	for i := 1; i < len(nodes); i++ {
		nodes[i].Ghosts = []topology.NodeView{lost}
	}
	rc.Status.Nodes = []redisv1beta1.NodeStatus{{Pod: "rc-0", Role: redisv1beta1.RoleMaster, NodeID: "m0", Slots: []string{"0-5461"}}}
	f := liveFixture(t, rc, nodes...)
	actions := f.runSync(keyOf(rc))

	require.Empty(t, f.redis.writes(), "Redis elects the replica itself")
	require.Equal(t, []string{"apply status", "create poddisruptionbudgets/rc-shard-0", "patch poddisruptionbudgets/rc-shard-0"}, apiWrites(actions),
		"no empty pod at the lost master's address; its replica, the shard's only copy, may not be evicted")
}

// scaleOutFixture is a cluster of 3 masters without replicas whose spec asks for 4, with the
// fourth node joined and empty.
func scaleOutFixture(t *testing.T) (*redisv1beta1.RedisCluster, *fixture) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Masters, rc.Spec.Replicas = 4, 0
	nodes := testcluster.Healthy()[:3]
	nodes = append(nodes, testcluster.Node{Index: 3, Host: "a", ID: "n3", Master: true, StateOK: true, Epoch: -1})
	return rc, liveFixture(t, rc, nodes...)
}

func TestActStartsAScaleOutAndReportsIt(t *testing.T) {
	rc, f := scaleOutFixture(t)
	c, _, _ := f.newController()
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))
	first := writeActions(f.redisClient.Actions(), f.kubeClient.Actions())
	status := statusOf(t, first)
	require.NotNil(t, status.LastScaleTime)
	require.True(t, meta.IsStatusConditionTrue(status.Conditions, redisv1beta1.ConditionScaling))

	require.Eventually(t, func() bool {
		r := c.migrations.report(keyOf(rc), rc.UID)
		return r != nil && !r.Running
	}, 5*time.Second, 5*time.Millisecond, "the migration runs off the worker and ends")
	moves := f.redis.writes()
	require.Len(t, moves, 3, "one move from each master to the new one: %v", moves)
	for _, m := range moves {
		require.Regexp(t, `^move m[012] -> n3 `, m)
	}

	// The next sync reports the end: the cluster is spread and Ready, the migration on record.
	for i, r := range topology.EvenSplit(4) {
		state := f.redis.view.Nodes[testcluster.Addr(i)]
		self := &state.Table[0]
		self.Slots = []topology.SlotRange{r}
	}
	for _, n := range f.redis.view.Nodes {
		for i := range n.Table {
			if i > 0 {
				n.Table[i].Slots = f.redis.view.Nodes[n.Table[i].Addr].Table[0].Slots
			}
		}
	}
	f.redisClient.ClearActions()
	c.status.interval = time.Hour // however slow the machine, the next sync is within it
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))
	require.Empty(t, writeActions(f.redisClient.Actions()), "within the status interval of the last write, nothing is written")
	c.status.interval = 0
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))
	status = statusOf(t, writeActions(f.redisClient.Actions()))
	require.Nil(t, status.Migration)
	require.Equal(t, "moved 4096 slots", status.LastMigration.Step)
	require.EqualValues(t, 4096, status.LastMigration.SlotsDone)
	require.Empty(t, f.redis.writes())
	require.Nil(t, c.migrations.report(keyOf(rc), rc.UID), "a reported migration is forgotten")
}

func TestActRemovesADrainedMaster(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Replicas = 0
	nodes := testcluster.Healthy()[:3]
	nodes = append(nodes, testcluster.Node{Index: 3, Host: "a", ID: "n3", Master: true, StateOK: true})
	f := liveFixture(t, rc, nodes...)
	actions := f.runSync(keyOf(rc))

	require.Equal(t, []string{"forget n3", "drop " + testcluster.Addr(3)}, f.redis.writes())
	require.ElementsMatch(t, []string{"delete pods/rc-3", "apply status"}, apiWrites(actions))
}

func TestActRemovesADrainedNodesClaim(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Replicas = 0
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
	nodes := testcluster.Healthy()[:3]
	nodes = append(nodes, testcluster.Node{Index: 3, Host: "a", ID: "n3", Master: true, StateOK: true})
	f := liveFixture(t, rc, nodes...)
	actions := f.runSync(keyOf(rc))
	require.Contains(t, apiWrites(actions), "delete persistentvolumeclaims/data-rc-3", "a later node 3 must not start as the forgotten one")
}

func TestActRepairsAnOpenSlot(t *testing.T) {
	rc := testcluster.Cluster("rc")
	nodes := testcluster.Healthy()
	nodes[0].Migrating = map[int]string{5: "m1"}
	nodes[1].Importing = map[int]string{5: "m0"}
	f := liveFixture(t, rc, nodes...)
	c, _, _ := f.newController()
	require.NoError(t, c.syncHandler(context.Background(), keyOf(rc)))
	require.Equal(t, []string{"apply status"}, apiWrites(writeActions(f.redisClient.Actions(), f.kubeClient.Actions())))

	// The repair moves the slot's keys as the cluster's task, off the sync.
	require.True(t, c.migrations.wait(10*time.Second))
	require.Equal(t, []string{"repair 5 owner " + testcluster.Addr(0)}, f.redis.writes())
	task := c.migrations.report(keyOf(rc), rc.UID)
	require.NotNil(t, task)
	require.False(t, task.Running)
	require.EqualValues(t, 1, task.Record.SlotsDone)
	require.Equal(t, "repaired 1 open slots", task.Record.Step)
}

func TestReadyClusterResyncMakesNoWrite(t *testing.T) {
	rc := testcluster.Cluster("rc")
	f := liveFixture(t, rc, testcluster.Healthy()...)
	first := f.runSync(keyOf(rc))
	require.Empty(t, f.redis.writes(), "a healthy cluster needs no Redis command")
	status := statusOf(t, first)
	require.True(t, meta.IsStatusConditionTrue(status.Conditions, redisv1beta1.ConditionReady), "%+v", status.Conditions)

	rc.Status = status
	require.Empty(t, f.runSync(keyOf(rc)), "a resync of a Ready cluster writes nothing to the API server")
	require.Empty(t, f.redis.writes(), "nor to Redis")
}

// Nodes started by an operator from before the exporter's user get it live with the settings.
func TestActGivesNodesFromBeforeTheExportersUserIt(t *testing.T) {
	rc := testcluster.Cluster("rc")
	f := liveFixture(t, rc, testcluster.Healthy()...)
	for _, pod := range f.pods {
		pod.Annotations[objects.AnnotationSettings] = "from-before"
	}
	monitor := string(f.secrets[0].Data[objects.MonitorPasswordKey])
	actions := f.runSync(keyOf(rc))

	writes := f.redis.writes()
	require.Len(t, writes, 18, "%v", writes)
	for i := range 6 {
		require.Equal(t, fmt.Sprintf("setuser %s %s %s", testcluster.Addr(i), conf.MonitorUser,
			strings.Join(conf.MonitorRules(monitor), " ")), writes[3*i+1], "after the settings of node %d", i)
	}
	patched := 0
	for _, a := range actions {
		if p, ok := a.(core.PatchAction); ok && strings.Contains(string(p.GetPatch()), objects.SettingsHash(rc, nil)) {
			patched++
		}
	}
	require.Equal(t, 6, patched, "every pod records it")
}

func TestAClusterKeepsThePortsItsPodsHold(t *testing.T) {
	older := testcluster.Cluster("older")
	older.Spec.Replicas = 0
	older.CreationTimestamp = metav1.NewTime(time.Unix(100, 0))
	f := liveFixture(t, older, testcluster.Healthy()[:3]...)
	younger := testcluster.Cluster("younger")
	younger.Namespace, younger.UID = "other", "younger-uid"
	younger.Spec.BasePort, younger.Spec.Replicas = 10004, 0
	younger.CreationTimestamp = metav1.NewTime(time.Unix(200, 0))
	f.clusters = append(f.clusters, younger)
	for i := 1; i < 3; i++ {
		pod := objects.Pod(younger, i)
		pod.ResourceVersion = "1"
		f.pods = append(f.pods, pod)
	}
	// Its node 0's pod is being replaced: the node, known by id, still holds its ports.
	younger.Status.Nodes = []redisv1beta1.NodeStatus{{Pod: "younger-0", Port: 10004, NodeID: "y0", Role: redisv1beta1.RoleMaster}}
	// The older cluster grows into ports the younger's pods hold.
	older.Spec.Replicas = 1
	actions := f.runSync(keyOf(older))
	require.ElementsMatch(t, []string{"create pods/older-3", "apply status"}, apiWrites(actions),
		"nodes 4 and 5 would listen on the younger cluster's ports 10004 and 10005")
	ready := meta.FindStatusCondition(statusOf(t, actions).Conditions, redisv1beta1.ConditionReady)
	require.Equal(t, plan.ReasonPortConflict, ready.Reason)
	require.Contains(t, ready.Message, "port 10004 of node 4 is held by RedisCluster other/younger")

	actions = f.runSync(keyOf(younger))
	ready = meta.FindStatusCondition(statusOf(t, actions).Conditions, redisv1beta1.ConditionReady)
	require.NotEqual(t, plan.ReasonPortConflict, ready.Reason, "the younger cluster keeps its ports")
}

func TestCheckMastersRefusesPortsAnotherClusterHolds(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Replicas = 0
	f := liveFixture(t, rc, testcluster.Healthy()[:3]...)
	other := testcluster.Cluster("other")
	other.Namespace, other.UID, other.Spec.BasePort = "elsewhere", "other-uid", 10004
	f.clusters = append(f.clusters, other)
	pod := objects.Pod(other, 0)
	pod.ResourceVersion = "1"
	f.pods = append(f.pods, pod)
	// A replica that never synced the cluster answers as the one that did.
	follower, _, _ := f.newController()
	leader, _, _ := f.newController()
	require.NoError(t, leader.syncHandler(context.Background(), keyOf(rc)))
	for _, c := range []*Controller{follower, leader} {
		require.NoError(t, c.CheckMasters(context.Background(), "cache", "rc", 4), "node 3 listens on 10003: free")
		require.ErrorContains(t, c.CheckMasters(context.Background(), "cache", "rc", 5), "port 10004 of node 4 is held by RedisCluster elsewhere/other")
	}
}

func (r *fakeRedis) SetConfig(_ context.Context, addr string, settings map[string]string) (redisops.ConfigResult, error) {
	r.record("setconfig %s %v", addr, settings) // fmt prints a map in key order
	applied := make([]string, 0, len(settings))
	for d := range settings {
		i := len(applied)
		for i > 0 && applied[i-1] > d {
			i--
		}
		applied = append(applied[:i], append([]string{d}, applied[i:]...)...)
	}
	return redisops.ConfigResult{Applied: applied, Refused: map[string]string{}, Mismatch: map[string]string{}}, nil
}

func (r *fakeRedis) AddPassword(_ context.Context, addr, password string) error {
	r.record("addpassword %s %s", addr, password)
	return nil
}

func (r *fakeRedis) SetPassword(_ context.Context, addr, password string) error {
	r.record("setpassword %s %s", addr, password)
	return nil
}

func (r *fakeRedis) SetMasterAuth(_ context.Context, addr, password string) error {
	r.record("setmasterauth %s %s", addr, password)
	return nil
}

func (r *fakeRedis) SetUser(_ context.Context, addr, user string, rules []string) error {
	r.record("setuser %s %s %s", addr, user, strings.Join(rules, " "))
	return nil
}
