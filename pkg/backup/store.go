package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// StoreConfig says where backups live: a bucket of an S3-compatible service, under a prefix.
type StoreConfig struct {
	// Endpoint is host:port of the S3 service.
	Endpoint string
	Region   string
	Bucket   string
	// Prefix is the folder of the backups in the bucket ("" for the bucket's root).
	Prefix               string
	AccessKey, SecretKey string
	// TLS makes the connections HTTPS; CA, when set, is the PEM of the only CAs trusted then.
	TLS bool
	CA  []byte
	// PartSize is the size of each part of an upload (default DefaultPartSize, at least
	// MinPartSize): an upload holds one part in memory, and an object has at most 10,000 parts.
	PartSize uint64
}

// Part sizes: S3 refuses parts under 5 MiB but the last.
const (
	MinPartSize     = 5 << 20
	DefaultPartSize = 16 << 20
)

// maxListed bounds the objects one listing walks through.
const maxListed = 1_000_000

// Store keeps backups in a bucket.
type Store struct {
	client   *minio.Client
	bucket   string
	prefix   string
	partSize uint64
}

// NewStore makes a Store of cfg; it does not contact the service.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("an S3 store needs an endpoint and a bucket")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("part size %d is below S3's minimum of %d", cfg.PartSize, MinPartSize)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS {
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if len(cfg.CA) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CA) {
				return nil, errors.New("the S3 CA holds no PEM certificate")
			}
			transport.TLSClientConfig.RootCAs = pool
		}
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.TLS,
		Region:    cfg.Region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client of %s: %w", cfg.Endpoint, err)
	}
	return &Store{client: client, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/"), partSize: cfg.PartSize}, nil
}

// key is the bucket's key of an object named relative to the prefix.
func (s *Store) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// UploadShard uploads stream as the object name, whatever its length, and returns the object's
// size. Parts go one at a time from a single buffer of the part size, so memory does not grow
// with the object. A stream or upload that fails aborts the upload: no object appears.
func (s *Store) UploadShard(ctx context.Context, name string, stream io.Reader) (int64, error) {
	info, err := s.client.PutObject(ctx, s.bucket, s.key(name), stream, -1, minio.PutObjectOptions{
		PartSize:    s.partSize,
		ContentType: "application/octet-stream",
		// No parallel part buffers: ConcurrentStreamParts stays off.
		NumThreads: 1,
	})
	if err != nil {
		return 0, fmt.Errorf("uploading %s to bucket %s: %w", s.key(name), s.bucket, err)
	}
	return info.Size, nil
}

// Open reads the object name.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading %s from bucket %s: %w", s.key(name), s.bucket, err)
	}
	return obj, nil
}

// VerifyObject reads the object name back and checks that its SHA-256 is sha256Hex.
func (s *Store) VerifyObject(ctx context.Context, name, sha256Hex string) error {
	r, err := s.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("reading %s back from bucket %s: %w", s.key(name), s.bucket, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha256Hex {
		return fmt.Errorf("%w: %s (%d bytes) has SHA-256 %s, want %s", ErrChecksumMismatch, s.key(name), n, got, sha256Hex)
	}
	return nil
}

// BackupEntry is one backup folder under the prefix.
type BackupEntry struct {
	Name string
	// Complete is true when the manifest is there: without it the backup does not exist, and
	// its objects are leftovers of an interrupted one.
	Complete     bool
	Objects      int
	Size         int64
	LastModified time.Time
}

// ListBackups lists the backup folders under the prefix, by name.
func (s *Store) ListBackups(ctx context.Context) ([]BackupEntry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	byName := map[string]*BackupEntry{}
	listed := 0
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(""), Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("listing bucket %s under %q: %w", s.bucket, s.key(""), obj.Err)
		}
		if listed++; listed > maxListed {
			return nil, fmt.Errorf("listing bucket %s under %q: more than %d objects", s.bucket, s.key(""), maxListed)
		}
		rel := strings.TrimPrefix(obj.Key, s.key(""))
		name, file, ok := strings.Cut(rel, "/")
		if !ok {
			continue // not in a backup folder
		}
		e := byName[name]
		if e == nil {
			e = &BackupEntry{Name: name}
			byName[name] = e
		}
		e.Objects++
		e.Size += obj.Size
		if obj.LastModified.After(e.LastModified) {
			e.LastModified = obj.LastModified
		}
		if file == ManifestFile {
			e.Complete = true
		}
	}
	out := make([]BackupEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteBackup deletes the backup folder name: its manifest first, so that a deletion cut short
// leaves an incomplete backup rather than a manifest naming missing objects, then its objects
// and the uploads left unfinished in it.
func (s *Store) DeleteBackup(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	folder := s.key(name) + "/"
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(ManifestObjectName(name)), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("deleting the manifest of %s: %w", name, err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(objects)
		listed := 0
		for obj := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: folder, Recursive: true}) {
			if obj.Err != nil {
				listErr = obj.Err
				return
			}
			if listed++; listed > maxListed {
				listErr = fmt.Errorf("more than %d objects", maxListed)
				return
			}
			select {
			case objects <- obj:
			case <-lctx.Done():
				return
			}
		}
	}()
	var firstErr error
	for rerr := range s.client.RemoveObjects(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		if firstErr == nil {
			firstErr = fmt.Errorf("deleting %s: %w", rerr.ObjectName, rerr.Err)
		}
	}
	if firstErr == nil && listErr != nil {
		firstErr = fmt.Errorf("listing %s: %w", folder, listErr)
	}
	if firstErr != nil {
		return firstErr
	}
	aborted := 0
	for up := range s.client.ListIncompleteUploads(lctx, s.bucket, folder, true) {
		if aborted++; aborted > maxListed {
			return fmt.Errorf("more than %d unfinished uploads in %s", maxListed, folder)
		}
		if up.Err != nil {
			return fmt.Errorf("listing the unfinished uploads of %s: %w", folder, up.Err)
		}
		if err := s.client.RemoveIncompleteUpload(ctx, s.bucket, up.Key); err != nil {
			return fmt.Errorf("aborting the upload of %s: %w", up.Key, err)
		}
	}
	return nil
}

// remove deletes the object name, at best: it cleans up after a failure already reported.
func (s *Store) remove(ctx context.Context, name string) {
	_ = s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
}

// putSmall writes a small object whole.
func (s *Store) putSmall(ctx context.Context, name string, data []byte, contentType string) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.key(name), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("writing %s to bucket %s: %w", s.key(name), s.bucket, err)
	}
	return nil
}

// isNotFound reports S3's answer for a missing object.
func isNotFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

// objectPath joins a backup's name and a file in it.
func objectPath(backup, file string) string { return path.Join(backup, file) }
