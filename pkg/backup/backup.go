package backup

import (
	"context"
	"errors"
	"fmt"
)

// BackupShard streams the RDB of the node src into the object name of store, and describes it.
// On any failure no object is left: a stream that breaks or proves corrupt aborts the upload.
func BackupShard(ctx context.Context, src Source, store *Store, name string) (ShardInfo, error) {
	stream, err := OpenShard(ctx, src)
	if err != nil {
		return ShardInfo{}, err
	}
	defer stream.Close()
	size, uerr := store.UploadShard(ctx, name, stream)
	info, serr := stream.Info()
	if serr != nil {
		// The stream's own error says more than the upload's that it caused.
		if uerr == nil {
			// Unreachable: the upload ends only at the stream's checked EOF.
			store.remove(ctx, name)
			return info, fmt.Errorf("upload of %s finished before its stream: %w", name, serr)
		}
		return info, serr
	}
	if uerr != nil {
		return info, uerr
	}
	if size != info.Size {
		store.remove(ctx, name)
		return info, fmt.Errorf("object %s holds %d bytes, the RDB of %s has %d", name, size, src.Addr, info.Size)
	}
	return info, nil
}

// BackupShardFromAny tries BackupShard from each node of sources in turn (a shard's master and
// replicas, say), going on to the next only while the failure is retryable.
func BackupShardFromAny(ctx context.Context, sources []Source, store *Store, name string) (ShardInfo, error) {
	var errs []error
	for _, src := range sources {
		info, err := BackupShard(ctx, src, store, name)
		if err == nil {
			return info, nil
		}
		errs = append(errs, err)
		if !IsRetryable(err) || ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return ShardInfo{}, errors.New("no node to back the shard up from")
	}
	return ShardInfo{}, errors.Join(errs...)
}
