package framework

import (
	"testing"
	"time"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/test/tlstest"
)

// ClusterOption changes the cluster ReadyCluster makes, or how.
type ClusterOption func(*clusterOptions)

type clusterOptions struct {
	op      *Operator
	spec    []func(*redisv1beta1.RedisClusterSpec)
	timeout time.Duration
	tls     *tlstest.Credentials
}

// RunBy has op, which the test started with flags of its own, run the cluster: ReadyCluster
// starts no operator. A test with two clusters passes its operator to both.
func RunBy(op *Operator) ClusterOption {
	return func(o *clusterOptions) { o.op = op }
}

// WithSpec changes the cluster's spec before it is created. A basePort it sets is kept, and the
// test answers for those ports.
func WithSpec(change func(*redisv1beta1.RedisClusterSpec)) ClusterOption {
	return func(o *clusterOptions) { o.spec = append(o.spec, change) }
}

// Shape gives the cluster masters masters with replicas replicas each, instead of 3 with 1.
func Shape(masters, replicas int32) ClusterOption {
	return WithSpec(func(s *redisv1beta1.RedisClusterSpec) { s.Masters, s.Replicas = masters, replicas })
}

// ReadyWithin waits up to d for the cluster to be Ready, instead of 2 minutes.
func ReadyWithin(d time.Duration) ClusterOption {
	return func(o *clusterOptions) { o.timeout = d }
}

// ReadyCluster gives the test a Ready cluster named name, NewCluster's with opts applied, in a
// namespace of its own that is deleted when the test ends, on a block of ports no other cluster
// of the run uses (FreeBasePort). It starts an operator, with the CRD, unless RunBy names one,
// creates the namespace and the cluster, waits until the status says Ready for the cluster's
// generation, checks at once that every node lists every replica, then every cluster invariant.
func (f *Framework) ReadyCluster(t testing.TB, name string, opts ...ClusterOption) *redisv1beta1.RedisCluster {
	t.Helper()
	o := clusterOptions{timeout: 2 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.op == nil {
		f.StartOperator(t)
	}
	rc := NewCluster(f.Namespace(t, name), name, 0)
	for _, change := range o.spec {
		change(&rc.Spec)
	}
	if rc.Spec.BasePort == 0 {
		rc.Spec.BasePort = f.FreeBasePort(t)
	}
	if o.tls != nil {
		f.setUpTLS(t, rc, *o.tls)
	}
	f.CreateCluster(t, rc)
	if rc.Spec.TLS != nil && rc.Spec.TLS.SecretName == "" {
		f.PresentOperatorsCertificate(t, rc)
		t.Cleanup(func() { tlsClusters.Delete(rc.Namespace + "/" + rc.Name) })
	}
	rc = f.WaitReady(t, rc.Namespace, name, o.timeout)
	f.CheckReplicasListed(t, rc)
	f.CheckInvariants(t, rc)
	return rc
}
