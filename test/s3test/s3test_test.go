package s3test_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"redis-operator/test/s3test"
)

const (
	bucket = "backups"
	// 40 MiB of unknown size in 16 MiB parts: a three-part upload whose last part is short.
	objectSize = 40 << 20
	partSize   = 16 << 20
	// S3's smallest part but the last; versitygw refuses to complete an upload with a smaller one.
	minPartSize = 5 << 20
)

// TestOutage uploads in parts, stops the server in the middle of a second upload, checks that
// requests then fail, and restarts it: the finished object is whole and the broken upload is
// left incomplete, to be aborted.
func TestOutage(t *testing.T) {
	s := s3test.Start(t)
	s.Bucket(t, bucket)
	client := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	data, sum := randomData(1, objectSize)
	info, err := client.PutObject(ctx, bucket, "done", data, -1, minio.PutObjectOptions{PartSize: partSize})
	if err != nil {
		t.Fatalf("multipart upload: %v", err)
	}
	if info.Size != objectSize {
		t.Fatalf("uploaded %d bytes, want %d", info.Size, objectSize)
	}
	checkObject(ctx, t, client, "done", sum())

	// One retry at most, so requests to the stopped server fail at once.
	impatient, err := minio.New(s.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	broken := &pausingReader{Reader: io.LimitReader(rand.NewChaCha8([32]byte{2}), objectSize),
		pauseAt: minPartSize, paused: make(chan struct{}), resume: make(chan struct{})}
	uploaded := make(chan error, 1)
	go func() {
		_, err := impatient.PutObject(ctx, bucket, "broken", broken, -1, minio.PutObjectOptions{PartSize: minPartSize})
		uploaded <- err
	}()
	select {
	case <-broken.paused:
	case err := <-uploaded:
		t.Fatalf("upload ended before its second part: %v", err)
	case <-ctx.Done():
		t.Fatal("the upload did not reach its second part")
	}
	s.Stop(t)
	close(broken.resume)
	select {
	case err := <-uploaded:
		if err == nil {
			t.Fatal("an upload went on while the server was stopped")
		}
		t.Logf("upload during the outage: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the upload did not fail within a minute of the outage")
	}
	quick, cancelQuick := context.WithTimeout(ctx, 10*time.Second)
	defer cancelQuick()
	if _, err := impatient.BucketExists(quick, bucket); err == nil {
		t.Fatal("a request succeeded while the server was stopped")
	}

	s.Restart(t)
	checkObject(ctx, t, client, "done", sum())
	var keys []string
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 1 || keys[0] != "done" {
		t.Fatalf("objects after the restart: %q, want only done", keys)
	}
	if got := incompleteUploads(ctx, t, client); len(got) != 1 || got[0] != "broken" {
		t.Fatalf("incomplete uploads after the restart: %q, want broken", got)
	}
	if err := client.RemoveIncompleteUpload(ctx, bucket, "broken"); err != nil {
		t.Fatalf("aborting the broken upload: %v", err)
	}
	if got := incompleteUploads(ctx, t, client); len(got) != 0 {
		t.Fatalf("incomplete uploads after aborting: %q", got)
	}
	if err := client.RemoveObject(ctx, bucket, "done", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.StatObject(ctx, bucket, "done", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		t.Fatalf("stat of the deleted object: %v, want NoSuchKey", err)
	}
}

// randomData is size bytes of seeded random data, and their SHA-256 once read.
func randomData(seed byte, size int64) (io.Reader, func() []byte) {
	hash := sha256.New()
	return io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{seed}), size), hash), func() []byte { return hash.Sum(nil) }
}

// checkObject reads key back and compares its SHA-256 with want.
func checkObject(ctx context.Context, t *testing.T, client *minio.Client, key string, want []byte) {
	t.Helper()
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, obj)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	if n != objectSize || !bytes.Equal(hash.Sum(nil), want) {
		t.Fatalf("read back %d bytes of %s that differ from the %d uploaded", n, key, objectSize)
	}
}

// incompleteUploads are the keys of the bucket's multipart uploads that were neither completed
// nor aborted.
func incompleteUploads(ctx context.Context, t *testing.T, client *minio.Client) []string {
	t.Helper()
	var keys []string
	for upload := range client.ListIncompleteUploads(ctx, bucket, "", true) {
		if upload.Err != nil {
			t.Fatal(upload.Err)
		}
		keys = append(keys, upload.Key)
	}
	return keys
}

// pausingReader closes paused and waits for resume (a minute at most) when asked for more than
// pauseAt bytes: by then a streamed upload in parts of pauseAt bytes has sent its first part.
type pausingReader struct {
	io.Reader
	pauseAt, read  int64
	paused, resume chan struct{}
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.read == r.pauseAt {
		close(r.paused)
		select {
		case <-r.resume:
		case <-time.After(time.Minute):
		}
	}
	if left := r.pauseAt - r.read; left > 0 && int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.Reader.Read(p)
	r.read += int64(n)
	return n, err
}
