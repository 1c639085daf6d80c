package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"redis-operator/pkg/backup"
	"redis-operator/pkg/controller/objects"
	"redis-operator/pkg/redisops"
	"redis-operator/pkg/redisops/topology"
)

// terminationLog is where a container's last words go; Kubernetes shows them in the pod status.
const terminationLog = "/dev/termination-log"

// storeFlags are the flags naming a backup in a store, shared by backup-shard and restore-shard.
type storeFlags struct {
	endpoint, region, bucket, prefix, name, endpointCA string
	insecure                                           bool
	shard                                              int
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.endpoint, "endpoint", "", "host[:port] of the S3 API.")
	fs.StringVar(&s.region, "region", "us-east-1", "Region of the bucket.")
	fs.StringVar(&s.bucket, "bucket", "", "Bucket of the backups.")
	fs.StringVar(&s.prefix, "prefix", "", "Folder of the backups in the bucket.")
	fs.StringVar(&s.name, "backup", "", "The backup: its folder under --prefix.")
	fs.StringVar(&s.endpointCA, "endpoint-ca", "", "PEM file of the CA the endpoint's certificate is checked against.")
	fs.BoolVar(&s.insecure, "insecure", false, "Plain HTTP to the endpoint.")
	fs.IntVar(&s.shard, "shard", -1, "Index of the shard.")
}

// open checks the flags and connects; the keys are $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY.
func (s *storeFlags) open() (*backup.Store, error) {
	if s.endpoint == "" || s.bucket == "" || s.name == "" || s.shard < 0 {
		return nil, errors.New("--endpoint, --bucket, --backup and --shard are required")
	}
	cfg := backup.StoreConfig{Endpoint: s.endpoint, Region: s.region, Bucket: s.bucket, Prefix: s.prefix, TLS: !s.insecure,
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
	if s.endpointCA != "" {
		ca, err := os.ReadFile(s.endpointCA)
		if err != nil {
			return nil, err
		}
		cfg.CA = ca
	}
	return backup.NewStore(cfg)
}

func refused(err error) bool {
	for _, target := range []error{backup.ErrChecksumMismatch, backup.ErrCorruptRDB, backup.ErrDataDirNotEmpty, backup.ErrNoManifest} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// runShardCommand runs a backup-shard or restore-shard command and says why it failed where
// Kubernetes shows it.
func runShardCommand(name string, args []string, run func(context.Context, []string) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
	defer cancel()
	if err := run(ctx, args); err != nil {
		msg := fmt.Sprintf("%s: %v", name, err)
		fmt.Fprintln(os.Stderr, msg)
		_ = os.WriteFile(terminationLog, []byte(msg), 0o644)
		if refused(err) {
			return objects.RestoreRefusedExit // the operator fails the restore; other exits are retried
		}
		return 1
	}
	return 0
}

// backupShard streams one shard's RDB from the first of --sources that can give it into the
// store, then records it beside the object: the operator writes the manifest from the records.
func backupShard(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup-shard", flag.ContinueOnError)
	var store storeFlags
	store.register(fs)
	sources := fs.String("sources", "", "Comma-separated host:port of the shard's nodes, tried in turn.")
	slots := fs.String("slots", "", "The shard's slot ranges, comma-separated (0-5460,10923).")
	nodeID := fs.String("node-id", "", "Node id of the shard's master.")
	cert := fs.String("tls-cert", "", "Certificate presented to TLS nodes.")
	key := fs.String("tls-key", "", "Its key.")
	ca := fs.String("tls-ca", "", "CA certificates the nodes are checked against.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ranges []topology.SlotRange
	for _, text := range strings.Split(*slots, ",") {
		r, err := topology.ParseSlotRange(text)
		if err != nil {
			return fmt.Errorf("--slots: %w", err)
		}
		ranges = append(ranges, r)
	}
	s, err := store.open()
	if err != nil {
		return err
	}
	base := backup.Source{Password: os.Getenv("REDIS_PASSWORD")}
	if *cert != "" {
		creds, err := readTLSCredentials(*cert, *key, *ca)
		if err != nil {
			return err
		}
		base.TLS = redisops.TLSConfig(func() *redisops.TLSCredentials { return creds })
	}
	var from []backup.Source
	for _, addr := range strings.Split(*sources, ",") {
		if addr != "" {
			src := base
			src.Addr = addr
			from = append(from, src)
		}
	}
	object := backup.ShardObjectName(store.name, store.shard)
	info, err := backup.BackupShardFromAny(ctx, from, s, object)
	if err != nil {
		return fmt.Errorf("shard %d (slots %s): %w", store.shard, *slots, err)
	}
	rec := backup.ShardRecord{ShardManifest: backup.NewShardManifest(store.shard, ranges, *nodeID, object, info), RedisVersion: info.RedisVersion}
	if err := s.WriteShardRecord(ctx, store.name, rec); err != nil {
		return err
	}
	fmt.Printf("shard %d: %d keys, %d bytes from %s, sha256 %s\n", store.shard, info.Keys, info.Size, info.Addr, info.SHA256)
	return nil
}

func readTLSCredentials(cert, key, ca string) (*redisops.TLSCredentials, error) {
	var pems [3][]byte
	for i, file := range []string{cert, key, ca} {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		pems[i] = b
	}
	return redisops.ParseTLSCredentials(pems[0], pems[1], pems[2], time.Now())
}

// restoredMark names the file restore-shard leaves in a data directory it filled, holding the
// shard's SHA-256.
const restoredMark = ".restored-shard"

// restoreShard puts one shard of a backup in a node's data directory before the node starts,
// checked against the backup's manifest.
func restoreShard(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore-shard", flag.ContinueOnError)
	var store storeFlags
	store.register(fs)
	dir := fs.String("dir", "/data", "The node's data directory.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := store.open()
	if err != nil {
		return err
	}
	m, err := s.ReadManifest(ctx, store.name)
	if err != nil {
		return err
	}
	if store.shard >= len(m.Shards) {
		return fmt.Errorf("backup %s has %d shards, not shard %d", store.name, len(m.Shards), store.shard)
	}
	shard := m.Shards[store.shard]
	// A pod started again on a claim this shard was put on (the node's first pod died before
	// the restore ended) finds it there: that is no other data.
	mark := filepath.Join(*dir, restoredMark)
	if done, err := os.ReadFile(mark); err == nil && string(done) == shard.SHA256 {
		fmt.Printf("shard %d: already in place in %s\n", shard.Index, *dir)
		return nil
	}
	if err := backup.RestoreShard(ctx, s, shard, *dir); err != nil {
		return fmt.Errorf("shard %d of backup %s: %w", store.shard, store.name, err)
	}
	if err := giveToDirOwner(*dir, filepath.Join(*dir, backup.AppendDirname)); err != nil {
		return err
	}
	if err := os.WriteFile(mark, []byte(shard.SHA256), 0o644); err != nil {
		return err
	}
	fmt.Printf("shard %d: %d keys, %d bytes in place in %s\n", shard.Index, shard.Keys, shard.Size, *dir)
	return nil
}

// giveToDirOwner hands what root wrote under tree to the owner of dir, the user Redis runs as
// (or the volume's group), so that Redis can add its own AOF files beside the restored one.
func giveToDirOwner(dir, tree string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	owner, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return filepath.WalkDir(tree, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(owner.Uid), int(owner.Gid))
	})
}
