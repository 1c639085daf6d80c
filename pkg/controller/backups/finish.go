package backups

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
)

// Store is the part of a destination the operator itself reads and writes: the Jobs move the
// data. backup.Store is one.
type Store interface {
	ReadShardRecord(ctx context.Context, name string, index int) (*backup.ShardRecord, error)
	WriteManifest(ctx context.Context, m *backup.Manifest) error
	ReadManifest(ctx context.Context, name string) (*backup.Manifest, error)
	DeleteBackup(ctx context.Context, name string) error
}

// finish reads every shard's record, writes the manifest last and marks the backup Succeeded.
func (c *Controller) finish(ctx context.Context, b *redisv1beta1.RedisClusterBackup, rc *redisv1beta1.RedisCluster,
	dest *redisv1beta1.BackupDestination) error {
	store, err := c.Open(ctx, b.Namespace, dest, StorePrefix(dest, b.Namespace))
	if err != nil {
		return err
	}
	s := b.Status.DeepCopy()
	m := &backup.Manifest{FormatVersion: backup.ManifestFormatVersion, Name: b.Name, Cluster: rc.Name, Created: c.cfg.Now().UTC()}
	s.Keys, s.Size = 0, 0
	for i := range s.Shards {
		shard := &s.Shards[i]
		rec, err := store.ReadShardRecord(ctx, b.Name, int(shard.Index))
		if err != nil {
			return c.fail(ctx, b, rc, fmt.Sprintf("shard %d: its job completed but its record cannot be read: %v", shard.Index, err))
		}
		shard.Source, shard.Keys, shard.Size, shard.SHA256, shard.ReplicationOffset = rec.Source, rec.Keys, rec.Size, rec.SHA256, rec.ReplOffset
		s.Keys += rec.Keys
		s.Size += rec.Size
		m.Shards = append(m.Shards, rec.ShardManifest)
		if m.RedisVersion == "" {
			m.RedisVersion = rec.RedisVersion
		}
	}
	if err := store.WriteManifest(ctx, m); err != nil {
		return fmt.Errorf("writing the manifest of backup %s: %w", b.Name, err)
	}
	now := metav1.NewTime(c.cfg.Now())
	s.Phase, s.Message, s.CompletionTime = redisv1beta1.BackupSucceeded, "", &now
	if err := c.writeStatus(ctx, b, s); err != nil {
		return err
	}
	c.recorder.Eventf(b, corev1.EventTypeNormal, ReasonBackupSucceeded, "%d shards, %d keys, %d bytes at %s", len(s.Shards), s.Keys, s.Size, s.Location)
	return nil
}

// Open connects to dest, under storePrefix, with the credentials of its Secret in namespace.
func (c *Controller) Open(ctx context.Context, namespace string, dest *redisv1beta1.BackupDestination, storePrefix string) (Store, error) {
	return OpenDestination(ctx, c.secrets, c.cfg.Open, namespace, dest, storePrefix)
}
