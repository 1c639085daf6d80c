package framework

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Reconciles is how many reconciles of the RedisClusters in namespace the operator has finished,
// as its redis_operator_reconcile_total says (0 before the first).
func (o *Operator) Reconciles(namespace string) (int, error) {
	series, err := o.Scrape()
	return int(series[`redis_operator_reconcile_total{namespace="`+namespace+`"}`]), err
}

// Scrape reads the operator's /metrics: every series, name and labels as printed, to its value.
func (o *Operator) Scrape() (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.MetricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	series := map[string]float64{}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	for lines.Scan() {
		line := lines.Text()
		cut := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || cut < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[cut+1:], 64); err == nil {
			series[line[:cut]] = v
		}
	}
	return series, lines.Err()
}

// WaitReconciles waits until the operator has run n whole reconciles of the cluster in namespace
// that began after the call: whatever the cluster and its nodes looked like then, the operator
// has acted on it n times since. Something must cause them: a change, the operator's resync, or
// a cluster not yet converged (the operator requeues it).
//
// The namespace must hold one cluster. A cluster is never reconciled by two workers at once, and
// a reconcile is counted before the next one of the same cluster may start, so of the
// reconciles counted after the call only the first may have begun before it.
func (o *Operator) WaitReconciles(t testing.TB, namespace string, n int, timeout time.Duration) {
	t.Helper()
	// An operator just started serves its metrics a moment later.
	var from int
	WaitFor(t, timeout, "the operator's metrics", func() (bool, error) {
		var err error
		from, err = o.Reconciles(namespace)
		return err == nil, err
	})
	WaitFor(t, timeout, fmt.Sprintf("%d reconciles in %s begun after %d", n, namespace, from), func() (bool, error) {
		got, err := o.Reconciles(namespace)
		if err != nil {
			return false, err
		}
		return got >= from+n+1, fmt.Errorf("%d reconciles counted since", got-from)
	})
}
