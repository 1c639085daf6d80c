// Package versitygw holds how versitygw (built into bin/tools by hack/test-tools.sh) is run, so
// that test/s3test and the sandbox start the same S3 server the same way: its command line,
// its environment, its health check and a client for it.
package versitygw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Binary is the name of the executable in the tools folder.
const Binary = "versitygw"

// ErrExited is WaitReady's error when the server exited, as it does when its port is taken.
var ErrExited = errors.New("versitygw exited before it answered")

// healthPath answers 200 without credentials once the server listens (--health).
const healthPath = "/health"

// Config is one server: the posix backend over Dir, one root account, no IAM, plain HTTP.
type Config struct {
	Addr      string // host:port on 127.0.0.0/8
	Dir       string // the backend's root, which must exist: each folder in it is a bucket
	AccessKey string
	SecretKey string
	Region    string // versitygw refuses requests signed for another region
}

// Argv is the command line that runs c with the binary in toolsDir.
func (c Config) Argv(toolsDir string) []string {
	return []string{filepath.Join(toolsDir, Binary),
		"--port", c.Addr, "--region", c.Region, "--health", healthPath,
		"posix", c.Dir}
}

// Env is the whole environment of the server: only the root credentials. versitygw reads many
// variables (VGW_*, LOGFILE, WEBHOOK, AWS_*), so an inherited one could change it; and the
// secret stays out of the process list.
func (c Config) Env() []string {
	return []string{"ROOT_ACCESS_KEY_ID=" + c.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + c.SecretKey}
}

// WaitReady polls the health check until it answers, the server exits (exited is closed) or
// timeout passes.
func (c Config) WaitReady(ctx context.Context, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + c.Addr + healthPath
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("%s: %w", c.Addr, ErrExited)
		case <-ctx.Done():
			return fmt.Errorf("versitygw on %s not ready after %s: %v", c.Addr, timeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Client is an S3 client of the server, signing for its region.
func (c Config) Client() (*minio.Client, error) {
	return minio.New(c.Addr, &minio.Options{
		Creds:  credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Region: c.Region,
	})
}

// CreateBucket creates bucket name.
func (c Config) CreateBucket(ctx context.Context, name string) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: c.Region}); err != nil {
		return fmt.Errorf("creating bucket %s on %s: %w", name, c.Addr, err)
	}
	return nil
}
