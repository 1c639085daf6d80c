package controller

import (
	"context"
	"crypto/x509"
	"errors"
)

// The fake cluster speaks no TLS: no certificate is served, and a reload is recorded.
func (r *fakeRedis) ServedCertificate(context.Context, string) (*x509.Certificate, error) {
	return nil, errors.New("the fake cluster speaks no TLS")
}

func (r *fakeRedis) ReloadCertificate(_ context.Context, addr string) error {
	r.record("reload certificate %s", addr)
	return nil
}
