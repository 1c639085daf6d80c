package controller

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/controller/internal/testcluster"
	"redis-operator/pkg/controller/objects"
)

// claimsOf are rc's claims of every node, as persistence spec made them.
func claimsOf(rc *redisv1beta1.RedisCluster, spec redisv1beta1.PersistenceSpec) []*corev1.PersistentVolumeClaim {
	made := rc.DeepCopy()
	made.Spec.Persistence = &spec
	var out []*corev1.PersistentVolumeClaim
	for index := range rc.Spec.NodeCount() {
		out = append(out, objects.Claim(made, index))
	}
	return out
}

func TestActDeletesClaimsLeftUnusedWhilePersistenceIsOff(t *testing.T) {
	rc := testcluster.Cluster("rc")
	f := liveFixture(t, rc, testcluster.Healthy()...)
	f.claims = claimsOf(rc, redisv1beta1.PersistenceSpec{Enabled: true})
	writes := apiWrites(f.runSync(keyOf(rc)))
	for _, claim := range f.claims {
		require.Contains(t, writes, "delete persistentvolumeclaims/"+claim.Name, "its nodes.conf names a node the cluster forgets")
	}
}

func TestActRollsOntoClaimsWithoutTheOnesLeftFromBeforePersistenceWasOff(t *testing.T) {
	rc := testcluster.Cluster("rc")
	f := liveFixture(t, rc, testcluster.Healthy()...) // pods without claims
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true}
	f.claims = claimsOf(rc, *rc.Spec.Persistence)
	writes := apiWrites(f.runSync(keyOf(rc)))
	require.Contains(t, writes, "delete pods/rc-3", "the first replica is rolled onto a claim")
	require.Contains(t, writes, "delete persistentvolumeclaims/data-rc-3", "not onto the one it had before")
}

func TestActKeepsAPodWhoseNodeOwnsSlotsAgain(t *testing.T) {
	rc := testcluster.Cluster("rc")
	rc.Spec.Persistence = &redisv1beta1.PersistenceSpec{Enabled: true, StorageClass: ptr.To("fast")}
	f := liveFixture(t, rc, testcluster.Healthy()...)
	f.claims = claimsOf(rc, redisv1beta1.PersistenceSpec{Enabled: true, StorageClass: ptr.To("slow")})
	// Between the view the plan is made from and the replacement, replica 3 took over from master 0.
	swapped := testcluster.Healthy()
	swapped[0].Master, swapped[0].MasterID, swapped[0].Slots, swapped[0].LinkUp = false, "r3", nil, true
	swapped[3].Master, swapped[3].MasterID, swapped[3].Slots = true, "", testcluster.Healthy()[0].Slots
	f.redis.then = testcluster.View(swapped...)
	writes := apiWrites(f.runSync(keyOf(rc)))
	require.NotContains(t, writes, "delete pods/rc-3", "a master is never stopped")
	require.NotContains(t, writes, "delete persistentvolumeclaims/data-rc-3", "nor wiped")
}
