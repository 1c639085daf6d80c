package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Alertmanager is bin/tools/alertmanager (built by hack/test-tools.sh) running on loopback.
type Alertmanager struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// alertmanagerConfig routes every alert to one webhook with a bearer token file. Groups are
// flushed every second so a change of a group's alerts is delivered at once; repeat_interval is
// long so a group that did not change is never sent again during a test.
const alertmanagerConfig = `route:
  receiver: operator
  group_by: [alertname, redis_cluster, namespace]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: operator
  webhook_configs:
  - url: %q
    send_resolved: true
    http_config:
      authorization:
        credentials_file: %q
`

// StartAlertmanager runs Alertmanager with a webhook receiver at webhookURL that sends the token
// in tokenFile, without gossip, its state in a temporary folder; the test's cleanup kills it.
func (f *Framework) StartAlertmanager(t testing.TB, webhookURL, tokenFile string) *Alertmanager {
	t.Helper()
	bin := filepath.Join(f.Root, "bin", "tools", "alertmanager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run hack/test-tools.sh alertmanager (make test does)", bin)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(alertmanagerConfig, webhookURL, tokenFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "alertmanager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+config, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	am := &Alertmanager{URL: "http://" + addr, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(am.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-am.done
		if t.Failed() {
			if raw, err := os.ReadFile(logPath); err == nil {
				t.Logf("alertmanager log (last 4000 bytes):\n%s", tail(raw, 4000))
			}
		}
	})
	err = Poll(30*time.Second, "Alertmanager ready", func() (bool, error) {
		select {
		case <-am.done:
			return false, fmt.Errorf("alertmanager exited")
		default:
		}
		resp, err := http.Get(am.URL + "/-/ready")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
	})
	if err != nil {
		t.Fatal(err)
	}
	return am
}

// PostableAlert is one alert as Alertmanager's API v2 takes it, as Prometheus sends it.
type PostableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    *time.Time        `json:"startsAt,omitempty"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"`
}

// PostAlerts posts alerts to POST /api/v2/alerts.
func (a *Alertmanager) PostAlerts(t testing.TB, alerts ...PostableAlert) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(a.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("posting alerts: %s: %s", resp.Status, raw)
	}
}
