package framework

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// ExportersScrape reports, for every node of rc's status, whether its exporter sidecar reaches
// its node with the credentials it has: its metrics say redis_up 1. The first failure names the
// node and what its exporter answered.
func ExportersScrape(ctx context.Context, rc *redisv1beta1.RedisCluster) error {
	for _, n := range rc.Status.Nodes {
		if n.IP == "" {
			continue
		}
		addr := net.JoinHostPort(n.IP, strconv.Itoa(int(n.Port+redisv1beta1.ExporterPortOffset)))
		up, err := exporterUp(ctx, addr)
		if err != nil {
			return fmt.Errorf("exporter of %s at %s: %w", n.Pod, addr, err)
		}
		if up != "1" {
			return fmt.Errorf("exporter of %s at %s says redis_up %s", n.Pod, addr, up)
		}
	}
	return nil
}

// exporterUp is the value of redis_up on the exporter at addr.
func exporterUp(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	for lines.Scan() {
		if value, ok := strings.CutPrefix(lines.Text(), "redis_up "); ok {
			return value, nil
		}
	}
	if err := lines.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no redis_up in its metrics")
}
