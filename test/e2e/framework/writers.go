package framework

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writers keep n goroutines writing new keys until halted, and remember every write Redis
// acknowledged and the longest time a writer waited between two acknowledged writes. Each
// writer stops after maxWrites.
type Writers struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	acked []string
	fails int
	gap   time.Duration
	// errs counts the failed writes by error, for a test's log.
	errs map[string]int
}

// StartWriters starts n writers on c.
func StartWriters(c *redis.ClusterClient, n, maxWrites int) *Writers {
	w := &Writers{stop: make(chan struct{}), errs: map[string]int{}}
	for g := 0; g < n; g++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			last := time.Now()
			// A writer whose writes keep failing waits from its last acknowledged write on.
			defer func() {
				w.mu.Lock()
				w.gap = max(w.gap, time.Since(last))
				w.mu.Unlock()
			}()
			for i := 0; i < maxWrites; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				key := "live:" + strconv.Itoa(g) + ":" + strconv.Itoa(i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := c.Set(ctx, key, key, 0).Err()
				cancel()
				now := time.Now()
				w.mu.Lock()
				if err == nil {
					w.acked = append(w.acked, key)
					w.gap = max(w.gap, now.Sub(last))
					last = now
				} else {
					w.fails++
					w.errs[err.Error()]++
				}
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// Halt stops the writers and waits for them.
func (w *Writers) Halt() {
	close(w.stop)
	w.wg.Wait()
}

// Acked is how many writes were acknowledged, Fails how many were refused or timed out, and
// LongestGap the longest wait of one writer between two acknowledged writes.
func (w *Writers) Acked() int                { return len(w.acked) }
func (w *Writers) Fails() int                { return w.fails }
func (w *Writers) LongestGap() time.Duration { return w.gap }

// Errors counts the failed writes by error.
func (w *Writers) Errors() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.errs))
	for k, v := range w.errs {
		out[k] = v
	}
	return out
}

// CheckAcked fails t unless every acknowledged write reads back.
func (w *Writers) CheckAcked(t testing.TB, c *redis.ClusterClient) {
	t.Helper()
	if len(w.acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	missing := 0
	for start := 0; start < len(w.acked); start += 1000 {
		cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range w.acked[start:min(start+1000, len(w.acked))] {
				p.Get(ctx, k)
			}
			return nil
		})
		for i, cmd := range cmds {
			if v, err := cmd.(*redis.StringCmd).Result(); err != nil || v != w.acked[start+i] {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes are missing", missing, len(w.acked))
	}
}
