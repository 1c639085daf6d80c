package v1beta1_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
)

const destination = "{endpoint: \"127.0.0.1:9000\", insecure: true, bucket: backups, prefix: team/redis, credentialsSecret: s3}"

func withRestore(restore string) string {
	return strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: 512mb\n  restore: "+restore, 1)
}

// A restore fills a new cluster once: it is set at creation, never added, changed nor removed.
func TestRestoreIsSetOnlyAtCreation(t *testing.T) {
	s := loadCRDSchema(t)
	byName := withRestore("{backupName: nightly}")
	require.Empty(t, s.validate(t, byName))
	require.Empty(t, s.validate(t, withRestore("{destination: "+destination+"}")))
	require.Empty(t, s.validateUpdate(t, byName, strings.Replace(byName, "masters: 3", "masters: 5", 1)),
		"a restored cluster scales like any other")

	msg := strings.Join(s.validateUpdate(t, seedManifest, byName), "\n")
	require.Contains(t, msg, "spec.restore")
	require.Contains(t, msg, "a restore over a cluster that holds data is refused")
	require.Contains(t, strings.Join(s.validateUpdate(t, byName, seedManifest), "\n"), "spec.restore")
	require.Contains(t, strings.Join(s.validateUpdate(t, byName, withRestore("{backupName: other}")), "\n"), "spec.restore")

	for name, bad := range map[string]string{
		"neither":              "{}",
		"both":                 "{backupName: nightly, destination: " + destination + "}",
		"bucket with capitals": "{destination: " + strings.Replace(destination, "bucket: backups", "bucket: Backups", 1) + "}",
		"prefix with a slash":  "{destination: " + strings.Replace(destination, "team/redis", "/team/", 1) + "}",
		"endpoint with scheme": "{destination: " + strings.Replace(destination, "127.0.0.1:9000", "http://h", 1) + "}",
	} {
		msg := strings.Join(s.validate(t, withRestore(bad)), "\n")
		require.Contains(t, msg, "spec.restore", name)
	}
}

func TestBackupScheduleKeepsSevenByDefault(t *testing.T) {
	s := loadCRDSchema(t)
	manifest := strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: 512mb\n  backup: {schedule: \"0 3 * * *\", destination: "+destination+"}", 1)
	require.Empty(t, s.validate(t, manifest))
	obj := decodeManifest(t, manifest)
	structuraldefaulting.Default(obj, s.structural)
	backup := obj["spec"].(map[string]interface{})["backup"].(map[string]interface{})
	require.EqualValues(t, 7, backup["keep"])
	require.Equal(t, "us-east-1", backup["destination"].(map[string]interface{})["region"])
	msg := strings.Join(s.validate(t, strings.Replace(manifest, "schedule:", "keep: 0, schedule:", 1)), "\n")
	require.Contains(t, msg, "spec.backup.keep")
}

const backupManifest = `apiVersion: redis.redis/v1beta1
kind: RedisClusterBackup
metadata: {name: b1, namespace: default}
spec:
  clusterName: cache
`

func TestABackupsSpecNeverChanges(t *testing.T) {
	s := loadCRDSchemaOf(t, "redis.redis_redisclusterbackups.yaml")
	require.Empty(t, s.validate(t, backupManifest))
	withDestination := backupManifest + "  destination: " + destination + "\n"
	require.Empty(t, s.validate(t, withDestination))
	msg := strings.Join(s.validateUpdate(t, backupManifest, withDestination), "\n")
	require.Contains(t, msg, "spec is immutable")
	msg = strings.Join(s.validate(t, strings.Replace(backupManifest, "clusterName: cache", `clusterName: ""`, 1)), "\n")
	require.Contains(t, msg, "spec.clusterName")
}
