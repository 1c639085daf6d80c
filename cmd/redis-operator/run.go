package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"redis-operator/pkg/controller"
	"redis-operator/pkg/controller/backups"
	"redis-operator/pkg/controller/objects"
	clientset "redis-operator/pkg/generated/clientset/versioned"
	redisscheme "redis-operator/pkg/generated/clientset/versioned/scheme"
	informers "redis-operator/pkg/generated/informers/externalversions"
	"redis-operator/pkg/httpapi"
)

// eventCorrelation keeps client-go's guard against a loop flooding the API server with Events,
// but with room for a cluster's story: its default burst of 25 Events per object, refilled one
// per 5 minutes, is spent by a bootstrap and a scaling, and the Events after it (an alert's
// Autoscaled, a SlotsLost) were dropped. Here 100, refilled one per 30 s.
var eventCorrelation = record.CorrelatorOptions{BurstSize: 100, QPS: 1. / 30}

// newEventBroadcaster sends the Events recorded through it to the API server.
func newEventBroadcaster(ctx context.Context, kubeClient kubernetes.Interface) record.EventBroadcaster {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx), record.WithCorrelatorOptions(eventCorrelation))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kubeClient.CoreV1().Events("")})
	return broadcaster
}

// run wires clients, informers, the controller, leader election and the HTTP servers, and
// returns when ctx is cancelled and everything has stopped.
func run(ctx context.Context, opts *options, log zerolog.Logger) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", opts.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(opts.kubeAPIQPS), opts.kubeAPIBurst
	cfg.UserAgent = rest.DefaultKubernetesUserAgent() + " redis-operator"
	registry := prometheus.NewRegistry()
	cfg.Wrap(newAPIRequests(registry).wrap)
	kubeClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	redisClient, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	utilruntime.Must(redisscheme.AddToScheme(scheme.Scheme))

	redisInformers := informers.NewSharedInformerFactoryWithOptions(redisClient, opts.resyncPeriod,
		informers.WithNamespace(opts.namespace), informers.WithTransform(controller.StripManagedFields))
	kubeInformers := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithNamespace(opts.namespace), kubeinformers.WithTransform(controller.StripManagedFields),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = objects.ManagedSelector().String()
		}))
	// Password Secrets are the users' own, unlabelled; Helm's release records and token
	// Secrets are left out of the cache.
	secretInformers := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithNamespace(opts.namespace), kubeinformers.WithTransform(controller.StripManagedFields),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "type!=helm.sh/release.v1,type!=" + string(corev1.SecretTypeServiceAccountToken)
		}))

	// Nodes are cluster-wide and nobody's: a cordoned one starts a drain.
	nodeInformers := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithTransform(controller.StripManagedFields))

	broadcaster := newEventBroadcaster(ctx, kubeClient)
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "redis-operator"})

	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := readBuildInfo()
	build.register(registry)
	log.Info().Str("version", build.Version).Str("revision", build.Revision).Msg("starting")
	ctrl, err := controller.New(kubeClient, redisClient, controller.Informers{
		Clusters: redisInformers.Redis().V1beta1().RedisClusters(),
		Pods:     kubeInformers.Core().V1().Pods(),
		Services: kubeInformers.Core().V1().Services(),
		Claims:   kubeInformers.Core().V1().PersistentVolumeClaims(),
		Secrets:  secretInformers.Core().V1().Secrets(),
		Nodes:    nodeInformers.Core().V1().Nodes(),
		Budgets:  kubeInformers.Policy().V1().PodDisruptionBudgets(),
		Backups:  redisInformers.Redis().V1beta1().RedisClusterBackups(),
	}, recorder, controller.NewMetrics(registry), log, controller.Config{ShutdownGracePeriod: opts.shutdownGracePeriod,
		CertificateValidity: opts.certificateValidity, BackupImage: opts.backupImage,
		ResyncPeriod: opts.resyncPeriod})
	if err != nil {
		return err
	}

	backupCtrl, err := backups.New(kubeClient, redisClient, backups.Informers{
		Backups:  redisInformers.Redis().V1beta1().RedisClusterBackups(),
		Clusters: redisInformers.Redis().V1beta1().RedisClusters(),
		Jobs:     kubeInformers.Batch().V1().Jobs(),
		Secrets:  secretInformers.Core().V1().Secrets(),
	}, recorder, log, backups.Config{Image: opts.backupImage})
	if err != nil {
		return err
	}

	// Informers and the HTTP servers run on every replica; only reconciling needs the lease.
	redisInformers.Start(ctx.Done())
	kubeInformers.Start(ctx.Done())
	secretInformers.Start(ctx.Done())
	nodeInformers.Start(ctx.Done())
	defer redisInformers.Shutdown()
	defer kubeInformers.Shutdown()
	defer secretInformers.Shutdown()
	defer nodeInformers.Shutdown()

	leaderHealth := leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	healthy := func(r *http.Request) error { return leaderHealth.Check(r) }
	ready := func(*http.Request) error {
		if !ctrl.HasSynced() {
			return errors.New("informer caches are not synced yet")
		}
		return nil
	}
	token, err := webhookToken(opts.webhookTokenFile)
	if err != nil {
		return err
	}
	switch {
	case opts.webhookAllowAnyone:
		log.Warn().Msg("--webhook-allow-unauthenticated: anyone who reaches the HTTP API can scale clusters through the webhook")
	case token == "":
		log.Warn().Msg("no --webhook-token-file: the Alertmanager webhook is off and answers 403")
	}
	apiMux := http.NewServeMux()
	httpapi.HandleHealth(apiMux, healthy, ready)
	metricsMux := apiMux // one server when both addresses are the same
	if opts.metricsAddr != opts.httpAddr {
		metricsMux = http.NewServeMux()
		httpapi.HandleHealth(metricsMux, healthy, ready)
	}
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	httpapi.New(httpapi.Options{
		Clusters:                    redisInformers.Redis().V1beta1().RedisClusters().Lister(),
		Scaler:                      &httpapi.ClientScaler{Client: redisClient, Recorder: recorder, Now: time.Now},
		WebhookToken:                token,
		WebhookAllowUnauthenticated: opts.webhookAllowAnyone,
		CheckMasters:                ctrl.CheckMasters,
		Registerer:                  registry,
		Log:                         log,
	}).Register(apiMux)

	servers := []*http.Server{httpapi.NewHTTPServer(opts.httpAddr, apiMux, httpapi.DefaultServerTimeouts)}
	if metricsMux != apiMux {
		servers = append(servers, httpapi.NewHTTPServer(opts.metricsAddr, metricsMux, httpapi.DefaultServerTimeouts))
	}
	serverErrs := make(chan error, 2*len(servers)+2)
	for _, s := range servers {
		for _, addr := range listenAddrs(s.Addr, opts.podIPs) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			log.Info().Str("addr", ln.Addr().String()).Msg("serving HTTP")
			go func() {
				if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					serverErrs <- err
				}
			}()
		}
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Shutdown(shutdownCtx)
		}()
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	go func() {
		if err := <-serverErrs; err != nil {
			log.Error().Err(err).Msg("HTTP server failed")
			cancelRun()
		}
	}()

	reconcile := func(ctx context.Context) error {
		backupErr := make(chan error, 1)
		go func() { backupErr <- backupCtrl.Run(ctx, 2) }()
		err := ctrl.Run(ctx, opts.workers)
		return errors.Join(err, <-backupErr)
	}
	if !opts.leaderElect {
		return reconcile(runCtx)
	}
	return runAsLeader(runCtx, opts, kubeClient, recorder, leaderHealth, log, reconcile)
}

// runAsLeader runs work only while this replica holds the Lease. At shutdown the work is stopped
// and drained before the Lease is released, so two leaders never reconcile at once.
func runAsLeader(ctx context.Context, opts *options, kubeClient kubernetes.Interface, recorder record.EventRecorder,
	health *leaderelection.HealthzAdaptor, log zerolog.Logger, work func(context.Context) error) error {
	namespace := opts.leaderElectionNS
	if namespace == "" {
		namespace = podNamespace()
	}
	hostname, _ := os.Hostname()
	identity := hostname + "_" + utilrand.String(8)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: opts.leaderElectionID, Namespace: namespace},
		Client:     kubeClient.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity, EventRecorder: recorder},
	}

	electionCtx, stopElection := context.WithCancel(context.Background())
	defer stopElection()
	var (
		mu       sync.Mutex
		workDone chan struct{} // made when this replica starts leading
		workErr  error
		lost     = make(chan struct{})
	)
	go func() {
		<-ctx.Done()
		mu.Lock()
		done := workDone
		mu.Unlock()
		if done != nil {
			<-done
		}
		stopElection()
	}()
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.leaderElectionLease,
		RenewDeadline:   opts.leaderElectionRenew,
		RetryPeriod:     opts.leaderElectionRetry,
		ReleaseOnCancel: true,
		WatchDog:        health,
		Name:            opts.leaderElectionID,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaderCtx context.Context) {
				log.Info().Str("identity", identity).Str("lease", namespace+"/"+opts.leaderElectionID).Msg("became leader")
				mu.Lock()
				workDone = make(chan struct{})
				mu.Unlock()
				defer close(workDone)
				workCtx, cancel := context.WithCancel(leaderCtx)
				defer cancel()
				stopOnShutdown := context.AfterFunc(ctx, cancel)
				defer stopOnShutdown()
				workErr = work(workCtx)
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					close(lost)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	elector.Run(electionCtx)
	select {
	case <-lost:
		return fmt.Errorf("lost the leader Lease %s/%s", namespace, opts.leaderElectionID)
	default:
		return workErr
	}
}

// listenAddrs are the addresses a server of addr listens on. An address with a host is kept. One
// without (":9090") means every address, unless the pod's IPs are known: then those IPs and the
// loopback address of each of their families, which is what every address is inside a pod of its
// own. Pods that share one network stack, as host-network pods and the sandbox's pods do, thus
// do not collide on the port, while kubectl port-forward, which dials loopback inside the pod,
// still reaches it. A loopback pod IP (the sandbox gives those) stands for its family's loopback.
func listenAddrs(addr string, podIPs []net.IP) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" || len(podIPs) == 0 {
		return []string{addr}
	}
	var out []string
	hasIP, hasLoopback := map[string]bool{}, map[string]bool{} // by the family's loopback address
	for _, ip := range podIPs {
		out = append(out, net.JoinHostPort(ip.String(), port))
		family := net.IPv6loopback.String()
		if ip.To4() != nil {
			family = "127.0.0.1"
		}
		hasIP[family] = true
		hasLoopback[family] = hasLoopback[family] || ip.IsLoopback()
	}
	for _, lo := range []string{"127.0.0.1", net.IPv6loopback.String()} {
		if hasIP[lo] && !hasLoopback[lo] {
			out = append(out, net.JoinHostPort(lo, port))
		}
	}
	return out
}

// podNamespace is the namespace the operator runs in, for its Lease.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if raw, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(raw)); ns != "" {
			return ns
		}
	}
	return metav1.NamespaceDefault
}

// webhookToken reads the webhook's bearer token; surrounding white space is not part of it.
func webhookToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading --webhook-token-file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("--webhook-token-file %s is empty", path)
	}
	return token, nil
}
