package redisops

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"redis-operator/pkg/redisops/topology"
)

// fetchConcurrency bounds how many nodes are read at once.
const fetchConcurrency = 16

// View reads every node at addrs, concurrently; unreachable nodes are recorded with Err.
func (a *Admin) View(ctx context.Context, addrs []string) *topology.ClusterView {
	view := &topology.ClusterView{Nodes: make(map[string]*topology.NodeState, len(addrs))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, fetchConcurrency)
	for _, addr := range addrs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			state := a.fetchNode(ctx, addr)
			mu.Lock()
			view.Nodes[addr] = state
			mu.Unlock()
		}()
	}
	wg.Wait()
	return view
}

func (a *Admin) fetchNode(ctx context.Context, addr string) *topology.NodeState {
	state := &topology.NodeState{Addr: addr}
	var nodes *redis.StringCmd
	var info, repl, memory, keyspace *redis.StringCmd
	_, err := a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		nodes = p.ClusterNodes(ctx)
		info = p.ClusterInfo(ctx)
		repl = p.Info(ctx, "replication")
		memory = p.Info(ctx, "memory")
		keyspace = p.Info(ctx, "keyspace")
		return nil
	})
	if err != nil {
		state.Err = fmt.Errorf("reading %s: %w", addr, err)
		return state
	}
	if state.Table, err = topology.ParseClusterNodes(nodes.Val()); err != nil {
		state.Err = err
		return state
	}
	state.Info = topology.ParseInfo(info.Val())
	state.Replication = topology.ParseInfo(repl.Val())
	state.Memory = topology.ParseInfo(memory.Val())
	state.Keyspace = topology.ParseInfo(keyspace.Val())
	state.OlderPassword = a.takesOlderPassword(ctx, addr)
	return state
}

// ReadConfig reads directives with one CONFIG GET per answering node of view, concurrently,
// into each node's Config, and in the same round trip its ACL LIST into ACL; a node that cannot
// tell keeps a nil Config.
func (a *Admin) ReadConfig(ctx context.Context, view *topology.ClusterView, directives []string) {
	if view == nil || len(directives) == 0 {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, fetchConcurrency)
	for _, state := range view.Nodes {
		if state.Err != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			args := append([]interface{}{"config", "get"}, toArgs(directives)...)
			cmd := redis.NewMapStringStringCmd(ctx, args...)
			pipe := a.Client(state.Addr).Pipeline()
			_ = pipe.Process(ctx, cmd)
			acl := pipe.Do(ctx, "acl", "list")
			if _, err := pipe.Exec(ctx); err != nil {
				return
			}
			if listing, err := acl.StringSlice(); err == nil {
				state.ACL = withoutDefaultUser(listing)
			}
			config := make(map[string]string, len(directives))
			for k, v := range cmd.Val() {
				config[strings.ToLower(k)] = v
			}
			state.Config = config
		}()
	}
	wg.Wait()
}

func toArgs(ss []string) []interface{} {
	out := make([]interface{}, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
