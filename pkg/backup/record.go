package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// maxRecordSize bounds a shard record read back.
const maxRecordSize = 1 << 20

// RecordObjectName is the object in which the job that streamed shard index of backup name
// describes the RDB it uploaded; the manifest is made from these records.
func RecordObjectName(name string, index int) string {
	return objectPath(name, "shard-"+strconv.Itoa(index)+".json")
}

// ShardRecord is what a shard's job records: the shard's manifest entry, and the version of the
// node that wrote the RDB.
type ShardRecord struct {
	ShardManifest
	RedisVersion string `json:"redisVersion"`
}

// WriteShardRecord records rec, once its RDB's object is complete.
func (s *Store) WriteShardRecord(ctx context.Context, name string, rec ShardRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.putSmall(ctx, RecordObjectName(name, rec.Index), data, "application/json")
}

// ReadShardRecord reads the record of shard index of backup name.
func (s *Store) ReadShardRecord(ctx context.Context, name string, index int) (*ShardRecord, error) {
	r, err := s.Open(ctx, RecordObjectName(name, index))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxRecordSize))
	if err != nil {
		return nil, fmt.Errorf("reading the record of shard %d of %s: %w", index, name, err)
	}
	var rec ShardRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("the record of shard %d of %s: %w", index, name, err)
	}
	if rec.Index != index {
		return nil, fmt.Errorf("the record of shard %d of %s names shard %d", index, name, rec.Index)
	}
	return &rec, nil
}
