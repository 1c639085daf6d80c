package redisops

import (
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Admin sends administrative commands to cluster nodes by address, keeping one small
// connection pool per node.
type Admin struct {
	password string
	mu       sync.Mutex
	clients  map[string]*redis.Client
}

// NewAdmin returns an Admin authenticating with password when it is not empty.
func NewAdmin(password string) *Admin {
	return &Admin{password: password, clients: map[string]*redis.Client{}}
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
		Password:        a.password,
		Protocol:        2,
		DisableIdentity: true,
		DialTimeout:     2 * time.Second,
		ReadTimeout:     5 * time.Second,
		WriteTimeout:    5 * time.Second,
		PoolSize:        4,
		MaxRetries:      -1,
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
