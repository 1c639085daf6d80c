package controller

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

func TestMetricsFollowTheStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	rc := &redisv1beta1.RedisCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "cache", Name: "rc"}}
	status := &redisv1beta1.RedisClusterStatus{
		Nodes: []redisv1beta1.NodeStatus{
			{Pod: "rc-0", Role: redisv1beta1.RoleMaster, Slots: []string{"0-99", "200"}},
			{Pod: "rc-1", Role: redisv1beta1.RoleMaster, Slots: []string{"100-199", "201-16383"}},
			{Pod: "rc-2", Role: redisv1beta1.RoleReplica},
		},
		Migration: &redisv1beta1.MigrationStatus{SlotsPlanned: 40, SlotsDone: 10},
	}
	m.observeStatus(rc, status)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP redis_operator_master_slots Slots each master of a RedisCluster owns, as of the last status the operator wrote.
# TYPE redis_operator_master_slots gauge
redis_operator_master_slots{namespace="cache",pod="rc-0",redis_cluster="rc"} 101
redis_operator_master_slots{namespace="cache",pod="rc-1",redis_cluster="rc"} 16283
# HELP redis_operator_migration_slots_done Slots the current (else the last) slot migration of a RedisCluster has moved.
# TYPE redis_operator_migration_slots_done gauge
redis_operator_migration_slots_done{namespace="cache",redis_cluster="rc"} 10
# HELP redis_operator_migration_slots_planned Slots the current (else the last) slot migration of a RedisCluster moves.
# TYPE redis_operator_migration_slots_planned gauge
redis_operator_migration_slots_planned{namespace="cache",redis_cluster="rc"} 40
`), "redis_operator_master_slots", "redis_operator_migration_slots_done", "redis_operator_migration_slots_planned"))

	// rc-1 was drained and the migration finished: its series goes, the last migration shows.
	status.Nodes[1].Slots = nil
	status.Nodes[0].Slots = []string{"0-16383"}
	status.LastMigration, status.Migration = &redisv1beta1.MigrationStatus{SlotsPlanned: 40, SlotsDone: 40}, nil
	m.observeStatus(rc, status)
	require.Equal(t, 1, testutil.CollectAndCount(m.masterSlots))
	require.Equal(t, 16384.0, testutil.ToFloat64(m.masterSlots.WithLabelValues("cache", "rc", "rc-0")))
	require.Equal(t, 40.0, testutil.ToFloat64(m.migrationDone.WithLabelValues("cache", "rc")))

	m.forgetCluster("cache", "rc")
	require.Equal(t, 0, testutil.CollectAndCount(m.masterSlots))
	require.Equal(t, 0, testutil.CollectAndCount(m.migrationPlanned))
}
