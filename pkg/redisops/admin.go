package redisops

import (
	"crypto/tls"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Admin sends administrative commands to cluster nodes by address, keeping one small
// connection pool per node.
type Admin struct {
	passwords []string
	// tls, when set, is how every connection speaks TLS to the nodes.
	tls     *tls.Config
	mu      sync.Mutex
	clients map[string]*redis.Client
	// accepted is the password each node last accepted from this Admin, for MIGRATE's AUTH2.
	accepted map[string]string
}

// NewAdmin returns an Admin whose new connections authenticate with the first of passwords the
// node accepts, in order; "" stands for no password, as does an empty list. Several passwords
// let it reach every node while a password is being rotated.
func NewAdmin(passwords ...string) *Admin {
	return &Admin{
		passwords: append([]string(nil), passwords...),
		clients:   map[string]*redis.Client{},
		accepted:  map[string]string{},
	}
}

// NewTLSAdmin is NewAdmin's over TLS: config says what the Admin presents and trusts. It is
// read at each new connection, so config's callbacks can hand out renewed certificates.
func NewTLSAdmin(config *tls.Config, passwords ...string) *Admin {
	a := NewAdmin(passwords...)
	a.tls = config
	return a
}

// Client returns the pooled client of the node at addr (ip:port).
func (a *Admin) Client(addr string) *redis.Client {
	return a.client(addr, false)
}

// slowClient is a second pool of the node at addr for commands that may run long, such as a
// MIGRATE of a big key: it waits as long as the call's context allows instead of 5 seconds.
func (a *Admin) slowClient(addr string) *redis.Client {
	return a.client(addr, true)
}

const slowPrefix = "slow|"

// adminBufferSize is the read and the write buffer of each pooled connection.
const adminBufferSize = 16 << 10

func (a *Admin) client(addr string, slow bool) *redis.Client {
	key := addr
	if slow {
		key = slowPrefix + addr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[key]; ok {
		return c
	}
	opts := &redis.Options{
		Addr:            addr,
		OnConnect:       a.authenticate(addr),
		Protocol:        2,
		DisableIdentity: true,
		DialTimeout:     2 * time.Second,
		ReadTimeout:     5 * time.Second,
		WriteTimeout:    5 * time.Second,
		PoolSize:        4,
		MaxRetries:      -1,
		TLSConfig:       a.tls,
		// A pooled connection lives as long as its node: the defaults (32 KiB buffers each
		// way, and a pipeline pool of its own with 128 KiB ones) kept about 400 KiB per node,
		// 2.8 MB per idle 3x1 cluster. Pipelines share the small pool; loopback and LAN
		// reads of 16 KiB cost no measurable time.
		ReadBufferSize:   adminBufferSize,
		WriteBufferSize:  adminBufferSize,
		PipelinePoolSize: -1,
	}
	if slow {
		opts.ReadTimeout, opts.ContextTimeoutEnabled, opts.PoolSize = -1, true, 2
	}
	c := redis.NewClient(opts)
	a.clients[key] = c
	return c
}

// Drop closes and forgets the client of addr, for a node that went away.
func (a *Admin) Drop(addr string) {
	a.mu.Lock()
	var drop []*redis.Client
	for _, key := range []string{addr, slowPrefix + addr} {
		if c, ok := a.clients[key]; ok {
			drop = append(drop, c)
			delete(a.clients, key)
		}
	}
	a.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

// Close closes every client.
func (a *Admin) Close() {
	a.mu.Lock()
	clients := a.clients
	a.clients = map[string]*redis.Client{}
	a.mu.Unlock()
	for _, c := range clients {
		_ = c.Close()
	}
}
