package e2e

import (
	"testing"
	"time"

	"redis-operator/test/e2e/framework"
)

// Ready means every node lists every master's replicas: clients that read from replicas learn
// them from whichever node they ask. ReadyCluster checks it the moment the status says Ready;
// here also after replicas are added to a running cluster.
func TestReadyMeansEveryNodeListsEveryReplica(t *testing.T) {
	rc := f.ReadyCluster(t, "listed", framework.Shape(3, 1))
	patchCluster(t, rc.Namespace, rc.Name, `{"spec":{"replicas":2}}`)
	rc = f.WaitReady(t, rc.Namespace, rc.Name, 2*time.Minute)
	f.CheckReplicasListed(t, rc)
	f.CheckInvariants(t, rc)

	// Ready came at most a gossip round early, which one new cluster may not show: two more.
	for range 2 {
		f.ReadyCluster(t, "listed", framework.Shape(3, 1))
	}
}
