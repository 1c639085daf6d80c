package redisops

import (
	"context"
	"fmt"
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
	var info, repl, memory *redis.StringCmd
	_, err := a.Client(addr).Pipelined(ctx, func(p redis.Pipeliner) error {
		nodes = p.ClusterNodes(ctx)
		info = p.ClusterInfo(ctx)
		repl = p.Info(ctx, "replication")
		memory = p.Info(ctx, "memory")
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
	return state
}
