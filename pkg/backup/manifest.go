package backup

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"time"

	"redis-operator/pkg/redisops/topology"
)

// ManifestFormatVersion is the version of the manifest this package writes and reads.
const ManifestFormatVersion = 1

// ManifestFile is the manifest's name in its backup's folder.
const ManifestFile = "manifest.json"

// maxManifestSize bounds a manifest read back: a few hundred bytes a shard.
const maxManifestSize = 16 << 20

// ErrNoManifest means a backup has no manifest: it does not exist, or never finished.
var ErrNoManifest = errors.New("backup has no manifest")

// Manifest describes a whole backup: written last, it is what makes the backup exist.
type Manifest struct {
	FormatVersion int `json:"formatVersion"`
	// Name is the backup's folder under the store's prefix.
	Name    string    `json:"name"`
	Cluster string    `json:"cluster"`
	Created time.Time `json:"created"`
	// RedisVersion is the version of the nodes that wrote the RDBs.
	RedisVersion string          `json:"redisVersion"`
	Shards       []ShardManifest `json:"shards"`
}

// ShardManifest describes one shard's RDB.
type ShardManifest struct {
	Index int `json:"index"`
	// Slots are the shard's slot ranges, as "0-5460" or "42".
	Slots []string `json:"slots"`
	// NodeID is the cluster node ID of the shard's master when the backup was taken.
	NodeID string `json:"nodeID"`
	// Source is the address of the node the RDB was streamed from.
	Source     string `json:"source,omitempty"`
	ReplID     string `json:"replID,omitempty"`
	ReplOffset int64  `json:"replOffset"`
	Keys       int64  `json:"keys"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	// Object is the RDB's object name, relative to the store's prefix.
	Object string `json:"object"`
}

// ShardObjectName is the object name of shard index of backup name.
func ShardObjectName(name string, index int) string {
	return objectPath(name, "shard-"+strconv.Itoa(index)+".rdb")
}

// ManifestObjectName is the object name of backup name's manifest.
func ManifestObjectName(name string) string { return objectPath(name, ManifestFile) }

// NewShardManifest describes shard index, serving slots with master nodeID, from the RDB
// streamed into object.
func NewShardManifest(index int, slots []topology.SlotRange, nodeID, object string, info ShardInfo) ShardManifest {
	return ShardManifest{Index: index, Slots: topology.FormatRanges(slots), NodeID: nodeID, Source: info.Addr,
		ReplID: info.ReplID, ReplOffset: info.ReplOffset, Keys: info.Keys, Size: info.Size, SHA256: info.SHA256, Object: object}
}

// SlotRanges parses the shard's slots.
func (s ShardManifest) SlotRanges() ([]topology.SlotRange, error) {
	out := make([]topology.SlotRange, 0, len(s.Slots))
	for _, r := range s.Slots {
		sr, err := topology.ParseSlotRange(r)
		if err != nil {
			return nil, err
		}
		out = append(out, sr)
	}
	return out, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

func validName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("backup name %q: want letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Validate checks that m describes a usable backup: every shard once, slots that parse and do
// not overlap, hashes and objects of its own folder.
func (m *Manifest) Validate() error {
	if m.FormatVersion != ManifestFormatVersion {
		return fmt.Errorf("manifest format version %d, this operator reads %d", m.FormatVersion, ManifestFormatVersion)
	}
	if err := validName(m.Name); err != nil {
		return err
	}
	if len(m.Shards) == 0 {
		return fmt.Errorf("backup %s: the manifest lists no shard", m.Name)
	}
	var owner [topology.SlotCount]int
	for i, s := range m.Shards {
		if s.Index != i {
			return fmt.Errorf("backup %s: shard %d is listed at position %d", m.Name, s.Index, i)
		}
		if len(s.SHA256) != 64 || hex.EncodeToString(mustHex(s.SHA256)) != s.SHA256 {
			return fmt.Errorf("backup %s: shard %d: SHA-256 %q is not 64 lowercase hex digits", m.Name, i, s.SHA256)
		}
		if s.Size <= 0 || s.Keys < 0 {
			return fmt.Errorf("backup %s: shard %d: size %d, keys %d", m.Name, i, s.Size, s.Keys)
		}
		if path.Dir(s.Object) != m.Name || path.Clean(s.Object) != s.Object {
			return fmt.Errorf("backup %s: shard %d: object %q is not in the backup's folder", m.Name, i, s.Object)
		}
		ranges, err := s.SlotRanges()
		if err != nil {
			return fmt.Errorf("backup %s: shard %d: %w", m.Name, i, err)
		}
		for _, r := range ranges {
			for slot := r.Start; slot <= r.End; slot++ {
				if owner[slot] != 0 {
					return fmt.Errorf("backup %s: slot %d is in shards %d and %d", m.Name, slot, owner[slot]-1, i)
				}
				owner[slot] = i + 1
			}
		}
	}
	return nil
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// WriteManifest writes m as its backup's manifest. Call it last, once every shard's object is
// uploaded (and verified): from then on the backup exists.
func (s *Store) WriteManifest(ctx context.Context, m *Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return s.putSmall(ctx, ManifestObjectName(m.Name), append(data, '\n'), "application/json")
}

// ReadManifest reads and checks the manifest of backup name; ErrNoManifest when it has none.
func (s *Store) ReadManifest(ctx context.Context, name string) (*Manifest, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	r, err := s.Open(ctx, ManifestObjectName(name))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNoManifest, name)
		}
		return nil, fmt.Errorf("reading the manifest of %s: %w", name, err)
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("the manifest of %s is over %d bytes", name, maxManifestSize)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the manifest of %s: %w", name, err)
	}
	if m.Name != name {
		return nil, fmt.Errorf("the manifest in %s names backup %q", name, m.Name)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
