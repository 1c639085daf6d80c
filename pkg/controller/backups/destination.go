package backups

import (
	"context"
	"fmt"

	corelisters "k8s.io/client-go/listers/core/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
	"redis-operator/pkg/backup"
)

// Opener connects to a destination's store under storePrefix with creds.
type Opener func(ctx context.Context, dest *redisv1beta1.BackupDestination, storePrefix string, creds Credentials) (Store, error)

// OpenS3 is the Opener of S3-compatible stores.
func OpenS3(_ context.Context, dest *redisv1beta1.BackupDestination, storePrefix string, creds Credentials) (Store, error) {
	return backup.NewStore(backup.StoreConfig{
		Endpoint: dest.Endpoint, Region: dest.Region, Bucket: dest.Bucket, Prefix: storePrefix,
		AccessKey: creds.AccessKeyID, SecretKey: creds.SecretAccessKey, TLS: !dest.Insecure, CA: creds.CA,
	})
}

// OpenDestination reads dest's credentials (and CA) from namespace's Secrets and opens it.
func OpenDestination(ctx context.Context, secrets corelisters.SecretLister, open Opener, namespace string,
	dest *redisv1beta1.BackupDestination, storePrefix string) (Store, error) {
	secret, err := secrets.Secrets(namespace).Get(dest.CredentialsSecret)
	if err != nil {
		return nil, fmt.Errorf("reading the destination's credentials: %w", err)
	}
	creds := Credentials{AccessKeyID: string(secret.Data[AccessKeyIDKey]), SecretAccessKey: string(secret.Data[SecretAccessKeyKey])}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, fmt.Errorf("secret %s needs %s and %s", dest.CredentialsSecret, AccessKeyIDKey, SecretAccessKeyKey)
	}
	if ref := dest.CASecret; ref != nil {
		ca, err := secrets.Secrets(namespace).Get(ref.Name)
		if err != nil {
			return nil, fmt.Errorf("reading the destination's CA: %w", err)
		}
		creds.CA = ca.Data[ref.Key]
	}
	if open == nil {
		open = OpenS3
	}
	return open(ctx, dest, storePrefix, creds)
}
