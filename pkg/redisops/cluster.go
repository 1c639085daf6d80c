package redisops

import (
	"context"
	"crypto/x509"

	"redis-operator/pkg/redisops/conf"
	"redis-operator/pkg/redisops/topology"
)

// Cluster is everything the operator asks of a Redis Cluster's nodes, by address. *Admin does it
// over the Redis protocol; controller tests use a fake. Nothing of a Redis client crosses it.
type Cluster interface {
	// View reads every node at addrs; a node that does not answer is recorded with its error.
	View(ctx context.Context, addrs []string) *topology.ClusterView

	Meet(ctx context.Context, addr, ip string, port, busPort int) error
	AddSlots(ctx context.Context, addr string, ranges []topology.SlotRange, epoch int64) error
	ClaimSlots(ctx context.Context, node *topology.NodeState, ranges []topology.SlotRange) error
	Replicate(ctx context.Context, addr, masterID string) error
	Failover(ctx context.Context, addr string, mode topology.FailoverMode) error
	ForgetEverywhere(ctx context.Context, view *topology.ClusterView, id string) error
	PointOwner(ctx context.Context, addr string, slots []int, ownerID string) error

	MoveSlots(ctx context.Context, source, target Endpoint, slots []int, masters []string, progress func(done int)) ([]int, error)
	RepairOpenSlot(ctx context.Context, view *topology.ClusterView, slot int, owner string) (Repair, error)
	// SlotMemory estimates what the keys of slots take on the node at addr, before they move.
	SlotMemory(ctx context.Context, addr string, slots []int) (topology.SlotMemory, error)

	// ReadConfig reads directives back from every answering node of view, into its Config, and
	// its ACL LIST without the default user into its ACL.
	ReadConfig(ctx context.Context, view *topology.ClusterView, directives []string)
	// SetConfig sets live settings on a node; Redis's refusals are in the result, not the error.
	SetConfig(ctx context.Context, addr string, settings map[string]string) (ConfigResult, error)
	// A password rotation: AddPassword the new one everywhere (SetPassword "" for none, which
	// takes any), then SetMasterAuth it and SetPassword it everywhere, which drops the old ones.
	AddPassword(ctx context.Context, addr, password string) error
	SetPassword(ctx context.Context, addr, password string) error
	SetMasterAuth(ctx context.Context, addr, password string) error
	// SetUser makes an ACL user exactly what its rules say.
	SetUser(ctx context.Context, addr, user string, rules []string) error
	// SetUsers makes the node's ACL users exactly users, but default and keep, and returns its
	// ACL LIST without the default user.
	SetUsers(ctx context.Context, addr string, users map[string][]string, keep ...string) ([]string, error)

	// ServedCertificate is the certificate a TLS node serves; ReloadCertificate has it load
	// certificate files of its directory.
	ServedCertificate(ctx context.Context, addr string) (*x509.Certificate, error)
	ReloadCertificate(ctx context.Context, addr string, files conf.CertificateFiles) error
	// SwitchTLS switches a node's links to TLS with files, or back to plain (files nil), live.
	SwitchTLS(ctx context.Context, addr string, port int, files *conf.CertificateFiles, authClients string) error

	// Drop closes the connections to a node that went away; Close all of them.
	Drop(addr string)
	Close()
}

var _ Cluster = (*Admin)(nil)
