package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The names of Redis 7's multi-part AOF with the default appendfilename and appenddirname (see
// redis's src/aof.c): a folder holding a base file, incremental files and a manifest listing them.
const (
	AppendFilename = "appendonly.aof"
	AppendDirname  = "appendonlydir"
)

// baseFile is the name of the base of the AOF, an RDB; baseManifest is the AOF manifest that
// makes Redis load it, with no incremental file yet: Redis opens one when it starts.
var (
	baseFile     = AppendFilename + ".1.base.rdb"
	baseManifest = "file " + baseFile + " seq 1 type b\n"
)

// tempPrefix names the folder a restore builds its files in before moving them in place.
const tempPrefix = ".restore-"

// ObjectSource is where a restore reads objects from; a Store is one.
type ObjectSource interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// RestoreShard puts shard's RDB in dataDir so that redis-server started there with appendonly
// yes (and the default AOF names) loads it: dataDir/appendonlydir holds it as the AOF's base.
// It refuses a dataDir that holds data already (ErrDataDirNotEmpty), and an object whose
// SHA-256, size, key count or checksum is not the manifest's (ErrChecksumMismatch,
// ErrCorruptRDB); then nothing is left in dataDir. The files appear at once, by one rename.
func RestoreShard(ctx context.Context, src ObjectSource, shard ShardManifest, dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	if err := checkNoData(dataDir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dataDir, tempPrefix)
	if err != nil {
		return err
	}
	// MkdirTemp makes it 0700; Redis makes its AOF folder 0755.
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := buildAOF(ctx, src, shard, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	final := filepath.Join(dataDir, AppendDirname)
	// Checked again right before the rename, which would merge into an empty folder.
	if _, err := os.Lstat(final); !errors.Is(err, os.ErrNotExist) {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("%w: %s appeared during the restore", ErrDataDirNotEmpty, final)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return syncDir(dataDir)
}

// checkNoData refuses a directory with an AOF, an RDB or a cluster config: a node that ran
// there. Folders left by an interrupted restore are removed.
func checkNoData(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix) && e.IsDir():
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		case name == AppendDirname, strings.HasPrefix(name, AppendFilename), strings.HasSuffix(name, ".rdb"),
			strings.HasPrefix(name, "nodes") && strings.HasSuffix(name, ".conf"):
			return fmt.Errorf("%w: %s holds %s", ErrDataDirNotEmpty, dir, name)
		}
	}
	return nil
}

// buildAOF writes the base RDB and the AOF manifest into dir, checked and synced.
func buildAOF(ctx context.Context, src ObjectSource, shard ShardManifest, dir string) error {
	r, err := src.Open(ctx, shard.Object)
	if err != nil {
		return fmt.Errorf("shard %d: %w", shard.Index, err)
	}
	defer r.Close()
	f, err := os.OpenFile(filepath.Join(dir, baseFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	check := newRDBChecker()
	// One byte past the manifest's size tells a longer object from the right one.
	_, err = io.Copy(io.MultiWriter(f, check), &ctxReader{ctx: ctx, r: io.LimitReader(r, shard.Size+1)})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shard %d: downloading %s: %w", shard.Index, shard.Object, err)
	}
	info, rdbErr := check.finish()
	if info.SHA256 != shard.SHA256 || info.Size != shard.Size {
		return fmt.Errorf("%w: shard %d: object %s has SHA-256 %s (%d bytes), the manifest says %s (%d bytes)",
			ErrChecksumMismatch, shard.Index, shard.Object, info.SHA256, info.Size, shard.SHA256, shard.Size)
	}
	if rdbErr != nil {
		return fmt.Errorf("shard %d: object %s: %w", shard.Index, shard.Object, rdbErr)
	}
	if info.Keys != shard.Keys {
		return fmt.Errorf("%w: shard %d: object %s holds %d keys, the manifest says %d", ErrCorruptRDB, shard.Index, shard.Object, info.Keys, shard.Keys)
	}
	if err := writeSynced(filepath.Join(dir, AppendFilename+".manifest"), []byte(baseManifest)); err != nil {
		return err
	}
	return syncDir(dir)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}
