package controller

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/controller/plan"
	"redis-operator/pkg/redisops/topology"
)

// restoringCluster is a cluster restoring a 3-shard backup of 10, 20 and 30 keys, whose shard
// nodes each answer alone (they have met no other node) with the keys they loaded.
func restoringCluster(loaded ...int) (*redisv1beta1.RedisCluster, *plan.Observation) {
	rc := testcluster.Cluster("restored")
	rc.Spec.Restore = &redisv1beta1.RestoreSpec{BackupName: "nightly"}
	rc.Status.Restore = &redisv1beta1.RestoreStatus{Phase: redisv1beta1.RestoreRunning, Location: "s3://b/p/nightly/"}
	o := &plan.Observation{Cluster: rc, Pods: map[int]*corev1.Pod{}, View: &topology.ClusterView{Nodes: map[string]*topology.NodeState{}}}
	for i, keys := range []int64{10, 20, 30} {
		rc.Status.Restore.Shards = append(rc.Status.Restore.Shards, redisv1beta1.BackupShard{Index: int32(i), Keys: keys,
			Slots: []string{topology.EvenSplit(3)[i].String()}})
		pod := objects.Pod(rc, i)
		addr := testcluster.Addr(i)
		pod.Status.PodIP = addr[:strings.IndexByte(addr, ':')]
		o.Pods[i] = pod
		o.View.Nodes[addr] = &topology.NodeState{Addr: addr,
			Table:    []topology.NodeView{{ID: "n" + strconv.Itoa(i), Flags: map[string]bool{"myself": true, "master": true}}},
			Keyspace: topology.ParseInfo("db0:keys=" + strconv.Itoa(loaded[i]) + ",expires=0")}
	}
	return rc, o
}

func restoreController() (*Controller, *record.FakeRecorder) {
	recorder := record.NewFakeRecorder(10)
	return &Controller{recorder: recorder, log: zerolog.Nop()}, recorder
}

// Nothing touches a restored cluster's nodes until every shard's node answers with the
// manifest's key count; a count that differs fails the restore for good, naming the shard.
func TestARestoreHoldsTheNodesUntilEveryShardIsLoadedWhole(t *testing.T) {
	c, recorder := restoreController()
	rc, o := restoringCluster(10, 20, 30)
	r := c.restoreState(rc, o)
	require.Empty(t, r.Hold, "every shard loaded whole")
	require.Equal(t, []topology.SlotRange{topology.EvenSplit(3)[1]}, r.Slots[1])

	rc, o = restoringCluster(10, 20, 30)
	o.View.Nodes[testcluster.Addr(2)].Err = errLoading
	require.Equal(t, "waiting for node 2 to load shard 2 (30 keys)", c.restoreState(rc, o).Hold)
	delete(o.Pods, 1)
	require.Contains(t, c.restoreState(rc, o).Hold, "waiting for node")

	rc, o = restoringCluster(10, 20, 30)
	o.View.Nodes[testcluster.Addr(0)].Keyspace = nil
	require.Equal(t, "waiting for node 0 to say how many keys it loaded", c.restoreState(rc, o).Hold)

	rc, o = restoringCluster(10, 19, 30)
	r = c.restoreState(rc, o)
	require.Equal(t, redisv1beta1.RestoreFailed, rc.Status.Restore.Phase)
	require.Equal(t, "shard 1: node 1 holds 19 keys, the backup's manifest says 20", rc.Status.Restore.Message)
	require.Equal(t, "restore failed: "+rc.Status.Restore.Message, r.Hold)
	require.Contains(t, <-recorder.Events, "RestoreFailed shard 1")

	// A node that met the others was checked before it did, and may serve writes by now.
	rc, o = restoringCluster(10, 25, 30)
	st := o.View.Nodes[testcluster.Addr(1)]
	st.Table = append(st.Table, topology.NodeView{ID: "n0", Flags: map[string]bool{"master": true}})
	require.Empty(t, c.restoreState(rc, o).Hold)
}

// The restore's init container failing with the refusal code (an object not the manifest's,
// a directory with other data) fails the restore; any other failure is the kubelet's to retry.
func TestARefusedShardFailsTheRestoreAndOtherFailuresWait(t *testing.T) {
	c, _ := restoreController()
	failedInit := func(pod *corev1.Pod, code int32) {
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: objects.RestoreContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error"}}}}
	}
	rc, o := restoringCluster(0, 20, 30)
	o.View.Nodes[testcluster.Addr(0)].Err = errLoading
	failedInit(o.Pods[0], 1)
	require.Equal(t, "shard 0: retrying: pod restored-0 could not put it in place: Error (kubectl logs restored-0 -c restore)",
		c.restoreState(rc, o).Hold)
	require.Equal(t, redisv1beta1.RestoreRunning, rc.Status.Restore.Phase)

	failedInit(o.Pods[0], objects.RestoreRefusedExit)
	r := c.restoreState(rc, o)
	require.Equal(t, redisv1beta1.RestoreFailed, rc.Status.Restore.Phase)
	require.Contains(t, r.Hold, "restore failed: shard 0: pod restored-0 could not put it in place")
}

var errLoading = loadingError("LOADING Redis is loading the dataset in memory")

type loadingError string

func (e loadingError) Error() string { return string(e) }
