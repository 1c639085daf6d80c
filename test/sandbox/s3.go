package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"redis-operator/test/s3test/versitygw"
)

// The sandbox's S3 server: versitygw on loopback, for backups. Its settings are fixed, as the
// control plane's ports are, so a Secret made for it keeps working across sandboxes.
const (
	S3Port      = 16446
	S3AccessKey = "sandbox"
	S3SecretKey = "sandbox-secret"
	// S3Region is not us-east-1, so a client that signs for us-east-1 whatever its
	// configuration fails.
	S3Region = "sandbox-1"
	// S3Bucket is created at start.
	S3Bucket = "backups"
	// S3SettingsFile, in the sandbox folder, holds the settings as KEY=value lines.
	S3SettingsFile = "s3.env"
	s3Ready        = 30 * time.Second
)

// S3Endpoint is where the S3 server listens (plain HTTP).
var S3Endpoint = "127.0.0.1:" + strconv.Itoa(S3Port)

// S3Settings describes the S3 server for people: its settings and the file that holds them.
func S3Settings(dir string) string {
	return fmt.Sprintf("S3 (versitygw) at http://%s, bucket %s, region %s, access key %s, secret key %s (also in %s)",
		S3Endpoint, S3Bucket, S3Region, S3AccessKey, S3SecretKey, filepath.Join(dir, S3SettingsFile))
}

// s3Config is the server over s3/ in the sandbox folder.
func (s *Sandbox) s3Config() versitygw.Config {
	return versitygw.Config{Addr: S3Endpoint, Dir: filepath.Join(s.dir, "s3"),
		AccessKey: S3AccessKey, SecretKey: S3SecretKey, Region: S3Region}
}

// startS3 starts versitygw and returns at once with a channel that receives nil once it answers
// and the bucket exists, or the error that prevented it: the control plane starts meanwhile.
func (s *Sandbox) startS3(ctx context.Context) (<-chan error, error) {
	cfg := s.s3Config()
	bin := filepath.Join(s.toolsDir, versitygw.Binary)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing from %s: run hack/sandbox-binaries.sh", versitygw.Binary, s.toolsDir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	proc, err := startProcess(versitygw.Binary, cfg.Argv(s.toolsDir), cfg.Env(), s.dir,
		filepath.Join(s.dir, "logs", "versitygw.log"), filepath.Join(s.dir, "pids", "versitygw.pid"))
	if err != nil {
		return nil, err
	}
	s.s3 = proc
	ready := make(chan error, 1)
	go func() {
		if err := cfg.WaitReady(ctx, s3Ready, proc.done); err != nil {
			ready <- fmt.Errorf("%w (see logs/versitygw.log)", err)
			return
		}
		bucketCtx, cancel := context.WithTimeout(ctx, s3Ready)
		defer cancel()
		if err := cfg.CreateBucket(bucketCtx, S3Bucket); err != nil {
			ready <- err
			return
		}
		ready <- os.WriteFile(filepath.Join(s.dir, S3SettingsFile), []byte(s3SettingsFile()), 0o644)
	}()
	return ready, nil
}

// s3SettingsFile is the settings under the names the AWS CLI and SDKs read, for
// `set -a; . .sandbox/s3.env; set +a`.
func s3SettingsFile() string {
	return fmt.Sprintf("# S3 server of the sandbox (versitygw), plain HTTP on loopback.\n"+
		"AWS_ENDPOINT_URL=http://%s\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_REGION=%s\nS3_BUCKET=%s\n",
		S3Endpoint, S3AccessKey, S3SecretKey, S3Region, S3Bucket)
}
