package redisops

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

// Ping checks that the node answers.
func (a *Admin) Ping(ctx context.Context, addr string) error {
	return a.Client(addr).Ping(ctx).Err()
}

// ClusterNodes returns the node's CLUSTER NODES view.
func (a *Admin) ClusterNodes(ctx context.Context, addr string) ([]NodeView, error) {
	reply, err := a.Client(addr).ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	return ParseClusterNodes(reply)
}

// ClusterInfo returns the node's CLUSTER INFO fields.
func (a *Admin) ClusterInfo(ctx context.Context, addr string) (map[string]string, error) {
	reply, err := a.Client(addr).ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER INFO on %s: %w", addr, err)
	}
	return ParseInfo(reply), nil
}

// Info returns the fields of one INFO section.
func (a *Admin) Info(ctx context.Context, addr, section string) (map[string]string, error) {
	reply, err := a.Client(addr).Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s on %s: %w", section, addr, err)
	}
	return ParseInfo(reply), nil
}

// Meet makes the node at addr handshake with the node at ip:port (cluster bus on busPort).
func (a *Admin) Meet(ctx context.Context, addr, ip string, port, busPort int) error {
	err := a.Client(addr).Do(ctx, "CLUSTER", "MEET", ip, strconv.Itoa(port), strconv.Itoa(busPort)).Err()
	if err != nil {
		return fmt.Errorf("CLUSTER MEET %s:%d on %s: %w", ip, port, addr, err)
	}
	return nil
}

// AddSlotsRange assigns ranges to the node at addr.
func (a *Admin) AddSlotsRange(ctx context.Context, addr string, ranges []SlotRange) error {
	if len(ranges) == 0 {
		return nil
	}
	args := []interface{}{"CLUSTER", "ADDSLOTSRANGE"}
	for _, r := range ranges {
		args = append(args, r.Start, r.End)
	}
	if err := a.Client(addr).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("CLUSTER ADDSLOTSRANGE %v on %s: %w", FormatRanges(ranges), addr, err)
	}
	return nil
}

// SetConfigEpoch gives a node that has no config epoch and knows no other node the epoch epoch
// (CLUSTER SET-CONFIG-EPOCH), as a new cluster's masters get distinct ones before they meet.
func (a *Admin) SetConfigEpoch(ctx context.Context, addr string, epoch int64) error {
	if err := a.Client(addr).Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", epoch).Err(); err != nil {
		return fmt.Errorf("CLUSTER SET-CONFIG-EPOCH %d on %s: %w", epoch, addr, err)
	}
	return nil
}

// ClaimSlots makes the node of state the owner of ranges that no live master serves. Slots its
// table leaves free take one ADDSLOTSRANGE; where its table still names a former owner, which
// Redis keeps until a newer claim, SETSLOT NODE overrides it. The node then takes the newest
// config epoch, so that every other node prefers its claim to a stale one.
func (a *Admin) ClaimSlots(ctx context.Context, state *NodeState, ranges []SlotRange) error {
	self, ok := state.Self()
	if !ok {
		return fmt.Errorf("node %s has no line of its own", state.Addr)
	}
	var free []SlotRange
	var taken []int
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			if owner := TableOwner(state, s); owner != "" && owner != self.ID {
				taken = append(taken, s)
				continue
			}
			if k := len(free); k > 0 && free[k-1].End == s-1 {
				free[k-1].End = s
			} else {
				free = append(free, SlotRange{Start: s, End: s})
			}
		}
	}
	if err := a.AddSlotsRange(ctx, state.Addr, free); err != nil {
		return err
	}
	if err := a.SetSlots(ctx, state.Addr, taken, "NODE", self.ID); err != nil {
		return err
	}
	if err := a.Client(state.Addr).Do(ctx, "CLUSTER", "BUMPEPOCH").Err(); err != nil {
		return fmt.Errorf("CLUSTER BUMPEPOCH on %s: %w", state.Addr, err)
	}
	return nil
}

// Replicate makes the node at addr a replica of masterID.
func (a *Admin) Replicate(ctx context.Context, addr, masterID string) error {
	if err := a.Client(addr).Do(ctx, "CLUSTER", "REPLICATE", masterID).Err(); err != nil {
		return fmt.Errorf("CLUSTER REPLICATE %s on %s: %w", masterID, addr, err)
	}
	return nil
}

// Forget removes node id from the node at addr's table (for 60 seconds of gossip).
func (a *Admin) Forget(ctx context.Context, addr, id string) error {
	if err := a.Client(addr).Do(ctx, "CLUSTER", "FORGET", id).Err(); err != nil {
		return fmt.Errorf("CLUSTER FORGET %s on %s: %w", id, addr, err)
	}
	return nil
}

// CountKeysInSlot is the number of keys of slot held by the node at addr.
func (a *Admin) CountKeysInSlot(ctx context.Context, addr string, slot int) (int64, error) {
	n, err := a.Client(addr).ClusterCountKeysInSlot(ctx, slot).Result()
	if err != nil {
		return 0, fmt.Errorf("CLUSTER COUNTKEYSINSLOT %d on %s: %w", slot, addr, err)
	}
	return n, nil
}

// SetSlot runs CLUSTER SETSLOT slot <state> [id] on the node at addr; state is IMPORTING,
// MIGRATING, NODE or STABLE.
func (a *Admin) SetSlot(ctx context.Context, addr string, slot int, state, id string) error {
	args := []interface{}{"CLUSTER", "SETSLOT", slot, state}
	if id != "" {
		args = append(args, id)
	}
	if err := a.Client(addr).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("CLUSTER SETSLOT %d %s %s on %s: %w", slot, state, id, addr, err)
	}
	return nil
}

// SetSlots sends CLUSTER SETSLOT <slot> <state> <id> for every slot in one pipeline. A node that
// turned replica (an emptied master can be) answers that SETSLOT is only for masters; that is fine.
func (a *Admin) SetSlots(ctx context.Context, addr string, slots []int, state, id string) error {
	cmds, err := a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, slot := range slots {
			p.Do(ctx, "CLUSTER", "SETSLOT", slot, state, id)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	for i, c := range cmds {
		if e := c.Err(); e != nil && !strings.Contains(e.Error(), "only with masters") {
			return fmt.Errorf("CLUSTER SETSLOT %d %s %s on %s: %w", slots[i], state, id, addr, e)
		}
	}
	return nil
}
