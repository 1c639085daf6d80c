// Command redis-operator runs Redis Clusters on Kubernetes from RedisCluster resources.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// options are the command-line flags.
type options struct {
	kubeconfig          string
	namespace           string
	workers             int
	resyncPeriod        time.Duration
	metricsAddr         string
	httpAddr            string
	podIPs              []net.IP
	webhookTokenFile    string
	webhookAllowAnyone  bool
	leaderElect         bool
	leaderElectionNS    string
	leaderElectionID    string
	logLevel            string
	shutdownGracePeriod time.Duration
	certificateValidity time.Duration
	backupImage         string
	leaderElectionLease time.Duration
	leaderElectionRenew time.Duration
	leaderElectionRetry time.Duration
	kubeAPIQPS          int
	kubeAPIBurst        int
	version             bool
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("redis-operator", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; the in-cluster config when empty.")
	fs.StringVar(&o.namespace, "namespace", "", "Watch RedisClusters in this namespace only; all namespaces when empty.")
	fs.IntVar(&o.workers, "workers", 4, "Clusters reconciled in parallel.")
	fs.DurationVar(&o.resyncPeriod, "resync-period", 30*time.Second, "How often every cluster is checked even when nothing changed.")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "Address of /metrics, /healthz and /readyz.")
	fs.StringVar(&o.httpAddr, "http-addr", ":9090", "Address of the HTTP API (node discovery, webhooks, health).")
	podIPs := fs.String("pod-ips", os.Getenv("POD_IPS"), "The pod's IPs, comma-separated; $POD_IPS by default, which the chart sets from status.podIPs. "+
		"An address without a host (:9090) then listens on these IPs and on loopback rather than on every address, so pods sharing "+
		"one network stack do not collide on the port and kubectl port-forward, which dials loopback, still works.")
	fs.StringVar(&o.webhookTokenFile, "webhook-token-file", "", "File holding the bearer token the Alertmanager webhook requires; without it the webhook answers 403.")
	fs.BoolVar(&o.webhookAllowAnyone, "webhook-allow-unauthenticated", false, "Accept Alertmanager webhook calls without a token (no --webhook-token-file): anyone who reaches the HTTP API can scale clusters.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Reconcile only while holding the leader Lease, so several replicas can run.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader Lease; the pod's own namespace when empty.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "redis-operator-leader", "Name of the leader Lease.")
	fs.DurationVar(&o.leaderElectionLease, "leader-election-lease-duration", 15*time.Second, "How long a lease is valid without renewal.")
	fs.DurationVar(&o.leaderElectionRenew, "leader-election-renew-deadline", 10*time.Second, "How long the leader retries renewing before giving up.")
	fs.DurationVar(&o.leaderElectionRetry, "leader-election-retry-period", 2*time.Second, "Wait between leader election attempts.")
	fs.StringVar(&o.logLevel, "log-level", "info", "Log level: debug, info, warn or error.")
	fs.DurationVar(&o.shutdownGracePeriod, "shutdown-grace-period", 20*time.Second, "Longest wait at shutdown for running slot migrations to stop between two batches of slots.")
	fs.DurationVar(&o.certificateValidity, "tls-certificate-validity", 90*24*time.Hour, "Validity of the node certificates the operator makes for TLS clusters without a spec.tls.secretName; each is renewed once a third of it is left.")
	fs.StringVar(&o.backupImage, "backup-image", defaultBackupImage(), "Image the backup Jobs run: the operator's own, whose backup-shard command streams a shard into the store; "+
		"$OPERATOR_IMAGE by default, which the chart sets.")
	fs.IntVar(&o.kubeAPIQPS, "kube-api-qps", 50, "Requests per second to the API server.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "Burst of requests to the API server.")
	fs.BoolVar(&o.version, "version", false, "Print the version and exit.")
	if err := fs.Parse(args); err != nil {
		return nil, err // fs.Parse has printed it with the usage
	}
	invalid := func(format string, args ...interface{}) (*options, error) {
		err := fmt.Errorf(format, args...)
		fmt.Fprintln(fs.Output(), err)
		return nil, err
	}
	for _, field := range strings.FieldsFunc(*podIPs, func(r rune) bool { return r == ',' || r == ' ' }) {
		ip := net.ParseIP(field)
		if ip == nil {
			return invalid("--pod-ips: %q is not an IP", field)
		}
		o.podIPs = append(o.podIPs, ip)
	}
	if o.workers < 1 {
		return invalid("--workers must be at least 1")
	}
	if o.webhookAllowAnyone && o.webhookTokenFile != "" {
		return invalid("--webhook-allow-unauthenticated and --webhook-token-file exclude each other")
	}
	return o, nil
}

// newLogger writes JSON, or readable text when stderr is a terminal.
func newLogger(level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	out := zerolog.New(os.Stderr)
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		out = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	}
	return out.Level(lvl).With().Timestamp().Logger(), nil
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backup-shard":
			os.Exit(runShardCommand(os.Args[1], os.Args[2:], backupShard))
		case "restore-shard":
			os.Exit(runShardCommand(os.Args[1], os.Args[2:], restoreShard))
		}
	}
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	if opts.version {
		fmt.Println(readBuildInfo())
		return
	}
	log, err := newLogger(opts.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, opts, log); err != nil {
		log.Error().Err(err).Msg("redis-operator stopped")
		os.Exit(1)
	}
	log.Info().Msg("redis-operator stopped")
}
