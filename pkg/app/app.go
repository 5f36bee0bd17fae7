package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/clientpool"
	"github.com/hearthmetrics/hearth/pkg/distributor"
	"github.com/hearthmetrics/hearth/pkg/distributor/hatracker"
	"github.com/hearthmetrics/hearth/pkg/distributor/ratelimit"
	"github.com/hearthmetrics/hearth/pkg/flusher"
	"github.com/hearthmetrics/hearth/pkg/frontend/cachegen"
	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/memberlist"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/querier"
	"github.com/hearthmetrics/hearth/pkg/retention"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/ruler"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulestore"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/usage"
)

// App is one Hearth process: the components its targets name, built and
// wired, ready to run.
type App struct {
	cfg      *Config
	explicit explicitSet
	logger   *slog.Logger
	reg      *prometheus.Registry
	servers  *servers
	// tenantRequests counts tenants' authenticated requests (see
	// newTenantRequests).
	tenantRequests *tenantRequests

	overrides    *limits.Overrides
	memberlist   *memberlist.KV
	ringKV       kv.Client
	ingesterRing *ring.Ring
	lifecycler   *ring.Lifecycler
	ingester     *ingester.Ingester
	querier      *querier.Querier
	distributor  *distributor.Distributor
	pool         *clientpool.Pool
	storeBackend chunk.Backend
	store        *chunk.Store
	flusher      *flusher.Flusher
	deleter      *retention.Deleter
	cachegen     *cachegen.Generations
	ruler        *ruler.Ruler
	rules        *rulestore.Store
	// storeSvc closes the store backend: it stops last, after the
	// servers and the usage ledger's last write.
	storeSvc *services.Service
	// usage is the per-tenant usage ledger; usageReg registers the
	// billing counters it continues (see initUsage).
	usage    *usage.Ledger
	usageReg prometheus.Registerer

	cluster       *auth.Cluster
	operatorToken auth.OperatorToken
	keys          *auth.Keys
	auth          *auth.Authenticator

	// stop is closed to end Run (POST /ingester/shutdown).
	stop     chan struct{}
	stopOnce sync.Once

	// svcs are started in this order and stopped in reverse.
	svcs    []*services.Service
	manager *services.Manager
}

// Main runs a Hearth process with the command-line args (without the program
// name) until SIGINT or SIGTERM, and returns the exit code.
func Main(args []string, defaultTarget string) int {
	cfg, explicit, err := ParseArgs(args, defaultTarget, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if cfg.PrintVersion {
		fmt.Println(Version("hearth"))
		return 0
	}
	logger := newLogger(cfg.Log, os.Stderr)
	applyGC(cfg.Server.GC, logger)
	a, err := New(cfg, explicit, logger, prometheus.NewRegistry())
	if err != nil {
		logger.Error("Building Hearth", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.has(TargetAll) {
		go a.printBanner(ctx, os.Stdout)
	}
	if err := a.Run(ctx); err != nil {
		logger.Error("Hearth stopped with an error", "err", err)
		return 1
	}
	return 0
}

// ParseArgs builds a Config from the flags' defaults, the -config.file and
// args, and validates it.
func ParseArgs(args []string, defaultTarget string, out io.Writer) (*Config, explicitSet, error) {
	fs := flag.NewFlagSet("hearth", flag.ContinueOnError)
	fs.SetOutput(out)
	cfg := &Config{}
	cfg.RegisterFlags(fs, defaultTarget)
	explicit, err := parseConfig(fs, args, cfg)
	if err != nil {
		return nil, explicitSet{}, err
	}
	// The flag package stops at the first word that is not a flag: a
	// mistyped subcommand or a stray word would be silently ignored.
	if fs.NArg() > 0 {
		return nil, explicitSet{}, fmt.Errorf("unexpected argument %q: only flags are accepted here (-help lists them)", fs.Arg(0))
	}
	if cfg.PrintVersion {
		return cfg, explicit, nil // Nothing runs: the rest needs no checking.
	}
	cfg.applyDerivedDefaults(explicit)
	if err := cfg.Validate(); err != nil {
		return nil, explicitSet{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, explicit, nil
}

// New builds every component the configured targets need.
func New(cfg *Config, explicit explicitSet, logger *slog.Logger, reg *prometheus.Registry) (*App, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)
	a := &App{cfg: cfg, explicit: explicit, logger: logger, reg: reg, stop: make(chan struct{})}
	if err := a.build(explicit); err != nil {
		if a.servers != nil {
			a.servers.close()
		}
		return nil, err
	}
	// The store starts first and stops last; the usage ledger loads
	// before the servers start and writes its last totals once they have
	// stopped (the servers stop after every component).
	svcs := append([]*services.Service{a.storeSvc, a.usage.Service()}, a.svcs...)
	a.manager = services.NewManager(a.logger, svcs...)
	return a, nil
}

func (a *App) build(explicit explicitSet) error {
	if err := a.initAuth(); err != nil {
		return err
	}
	var err error
	a.servers, err = newServers(a.logger, a.reg, a.cfg.Server, a.cfg.maxMessageSize(), a.cluster.ServerOptions())
	if err != nil {
		return err
	}
	// Calls signed for the bound address are this server's; the addresses
	// advertised in rings are added as the lifecyclers are built.
	a.cluster.AddAudience(a.servers.GRPCAddr())
	registerCommonRoutes(a.servers.mux, a.servers.internal, a.reg, func() *services.Manager { return a.manager }, a.cfg, a.readyDetail)
	// The servers start first, so /ready and /metrics answer while the
	// components start, and stop last.
	a.svcs = append(a.svcs, a.servers.service())
	a.overrides = limits.NewOverrides(a.cfg.Limits)
	registerLimitsCollector(a.reg, a.overrides)
	a.tenantRequests = newTenantRequests(a.reg)
	// Runtime overrides load before any component starts, so the first
	// request already sees them; an invalid file fails the start.
	rc := limits.NewRuntimeConfig(a.cfg.RuntimeConfig, a.overrides, a.logger.With("component", "runtime-config"), a.reg)
	a.svcs = append(a.svcs, rc.Service())
	a.servers.internal.Handle("GET /runtime_config", rc.Handler())

	if err := a.initAuthenticator(); err != nil {
		return err
	}
	if err := a.initUsage(); err != nil {
		return err
	}
	a.servers.guardHTTP(a.cfg.Server.HTTP, a.reg)
	steps := []func(explicitSet) error{a.initRing, a.initIngester, a.initDistributor, a.initQuerier, a.initFrontend, a.initRuler, a.initRetention, a.initDeleter, a.initSelfMonitoring}
	for _, step := range steps {
		if err := step(explicit); err != nil {
			return err
		}
	}
	a.registerUsageRoutes()
	return nil
}

func (a *App) initRing(explicitSet) error {
	var err error
	// Gossip is encrypted and authenticated whenever internal gRPC is: with
	// -memberlist.secret-key, else a key derived from the cluster secret
	// (Config.Validate refuses mutual TLS without either).
	a.memberlist, err = memberlist.NewWithKey(a.cfg.Memberlist, a.cluster.GossipKey(), a.logger.With("component", "memberlist"), a.reg)
	if err != nil {
		return fmt.Errorf("building memberlist: %w", err)
	}
	a.svcs = append(a.svcs, a.memberlist.Service())
	// One client per codec: every ring shares it, each under its own key.
	a.ringKV = a.memberlist.Client(ring.Codec())
	a.ingesterRing, err = ring.New(a.cfg.Ingester.Ring, "ingester", a.ringKV, a.logger.With("component", "ingester-ring"), a.reg)
	if err != nil {
		return fmt.Errorf("building the ingester ring: %w", err)
	}
	a.svcs = append(a.svcs, a.ingesterRing.Service())
	a.servers.internal.Handle("/ring", a.ingesterRing)
	a.servers.internal.Handle("/ingester/ring", a.ingesterRing)
	return nil
}

func (a *App) initIngester(explicit explicitSet) error {
	if !a.cfg.has(TargetIngester) {
		return nil
	}
	st, err := a.initStore()
	if err != nil {
		return err
	}
	// The flusher starts before the ingester, which reports the blocks it
	// finds at startup, and stops after it.
	a.flusher, err = flusher.New(flusher.Deps{
		Config:     a.cfg.Ingester.Flush,
		Store:      st,
		Logger:     a.logger.With("component", "flusher"),
		Registerer: a.billingRegisterer(),
	})
	if err != nil {
		return fmt.Errorf("building the flusher: %w", err)
	}
	a.svcs = append(a.svcs, a.flusher.Service())
	a.ingester, err = ingester.New(ingester.Deps{
		Config:     a.cfg.Ingester.Config,
		Logger:     a.logger.With("component", "ingester"),
		Registerer: a.reg,
		Overrides:  a.overrides,
		Ring:       a.ingesterRing,
		Flusher:    a.flusher,
	})
	if err != nil {
		return fmt.Errorf("building the ingester: %w", err)
	}
	a.servers.internal.Handle("POST /ingester/flush", a.flusher.Handler(a.ingester))
	a.servers.internal.Handle("/ingester/shutdown", a.shutdownHandler())
	a.ingester.Register(a.servers.grpc)
	registerInstanceLimits(a.reg, a.cfg.Ingester.InstanceLimits)
	a.svcs = append(a.svcs, a.ingester.Service())

	// The lifecycler joins the ring once the ingester is running (its WAL
	// replayed), and advertises the gRPC address actually bound.
	lcfg := a.cfg.Ingester.Ring
	host, port, err := advertisedAddr(a.servers.GRPCAddr())
	if err != nil {
		return err
	}
	if !explicit.has(&a.cfg.Ingester.Ring.InstanceAddr) {
		lcfg.InstanceAddr = host
	}
	if !explicit.has(&a.cfg.Ingester.Ring.InstancePort) {
		lcfg.InstancePort = port
	}
	a.lifecycler, err = ring.NewLifecycler(lcfg, "ingester", a.ringKV, a.logger.With("component", "ingester-lifecycler"), a.reg)
	if err != nil {
		return fmt.Errorf("building the ingester lifecycler: %w", err)
	}
	a.cluster.AddAudience(a.lifecycler.Addr())
	a.lifecycler.SetUnregisterOnShutdown(a.cfg.Ingester.UnregisterOnShutdown)
	a.svcs = append(a.svcs, a.lifecycler.Service())
	return nil
}

func (a *App) initDistributor(explicitSet) error {
	if !a.cfg.has(TargetDistributor) {
		return nil
	}
	if err := a.buildDistributor(); err != nil {
		return err
	}
	push := a.tenantHTTP(auth.ScopeWrite, a.distributor.PushHandler())
	a.servers.mux.Handle("POST /api/v1/push", push)
	// Cortex's original path, so existing senders keep working.
	a.servers.mux.Handle("POST /api/prom/push", push)
	// OTLP/HTTP metrics: Mimir's path and Prometheus's.
	otlpPush := a.tenantHTTP(auth.ScopeWrite, a.distributor.OTLPHandler())
	a.servers.mux.Handle("POST /otlp/v1/metrics", otlpPush)
	a.servers.mux.Handle("POST /api/v1/otlp/v1/metrics", otlpPush)
	// The tenant's own figures (Cortex's path), and every tenant's:
	// operator business.
	a.servers.mux.Handle("GET /api/v1/user_stats", a.tenantHTTP(auth.ScopeRead, a.distributor.OwnStatsHandler()))
	a.servers.internal.Handle("/distributor/all_user_stats", a.distributor.AllTenantStatsHandler())
	return nil
}

// buildDistributor builds the process's distributor once: the distributor
// target serves it, the ruler pushes its results through it.
func (a *App) buildDistributor() error {
	if a.distributor != nil {
		return nil
	}
	pool, err := a.clientPool()
	if err != nil {
		return err
	}
	hooks, err := a.pushHooks()
	if err != nil {
		return err
	}
	a.distributor, err = distributor.New(distributor.Deps{
		Config:     a.cfg.Distributor.Config,
		Hooks:      hooks,
		Ring:       a.ingesterRing,
		Clients:    pool,
		Limits:     a.overrides,
		Logger:     a.logger.With("component", "distributor"),
		Registerer: a.billingRegisterer(),
	})
	if err != nil {
		return fmt.Errorf("building the distributor: %w", err)
	}
	a.svcs = append(a.svcs, a.distributor.Service())
	return nil
}

// pushHooks builds what runs on a push before the fan-out: HA dedup first,
// so a standby replica's dropped samples do not spend the tenant's rate,
// then the rate limit.
func (a *App) pushHooks() ([]distributor.PrePushHook, error) {
	var hooks []distributor.PrePushHook
	if a.cfg.Distributor.HATracker.Enable {
		tracker, err := hatracker.New(hatracker.Deps{
			Config:     a.cfg.Distributor.HATracker,
			KV:         a.memberlist.Client(hatracker.Codec{}),
			Limits:     a.overrides,
			Logger:     a.logger.With("component", "ha-tracker"),
			Registerer: a.reg,
		})
		if err != nil {
			return nil, fmt.Errorf("building the HA tracker: %w", err)
		}
		a.svcs = append(a.svcs, tracker.Service())
		a.servers.internal.Handle("/distributor/ha_tracker", tracker.Handler())
		hooks = append(hooks, tracker)
	}
	var distributors ratelimit.Distributors
	if a.cfg.Distributor.RateLimit.Strategy == ratelimit.StrategyGlobal {
		r, err := a.distributorRing()
		if err != nil {
			return nil, err
		}
		distributors = r
	}
	limiter, err := ratelimit.New(ratelimit.Deps{Config: a.cfg.Distributor.RateLimit, Limits: a.overrides, Distributors: distributors})
	if err != nil {
		return nil, fmt.Errorf("building the rate limiter: %w", err)
	}
	return append(hooks, limiter), nil
}

// distributorRing joins this distributor to the distributor ring and
// returns the ring, whose healthy members share the global rate limit.
func (a *App) distributorRing() (*ring.Ring, error) {
	client := a.ringKV
	r, err := ring.New(a.cfg.Distributor.Ring, "distributor", client, a.logger.With("component", "distributor-ring"), a.reg)
	if err != nil {
		return nil, fmt.Errorf("building the distributor ring: %w", err)
	}
	lcfg := a.cfg.Distributor.Ring
	host, port, err := advertisedAddr(a.servers.GRPCAddr())
	if err != nil {
		return nil, err
	}
	if !a.explicit.has(&a.cfg.Distributor.Ring.InstanceAddr) {
		lcfg.InstanceAddr = host
	}
	if !a.explicit.has(&a.cfg.Distributor.Ring.InstancePort) {
		lcfg.InstancePort = port
	}
	lc, err := ring.NewLifecycler(lcfg, "distributor", client, a.logger.With("component", "distributor-lifecycler"), a.reg)
	if err != nil {
		return nil, fmt.Errorf("building the distributor lifecycler: %w", err)
	}
	a.cluster.AddAudience(lc.Addr())
	a.svcs = append(a.svcs, r.Service(), lc.Service())
	a.servers.internal.Handle("/distributor/ring", r)
	return r, nil
}

// clientPool returns the process's one pool of ingester clients, building
// it on first use; the distributor and the querier share it.
func (a *App) clientPool() (*clientpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	opts := clientpool.Options{
		Name:           "ingester",
		MaxSendMsgSize: a.cfg.maxMessageSize(),
		MaxRecvMsgSize: a.cfg.maxMessageSize(),
		Addresses:      ringAddresses{a.ingesterRing},
		DialOptions:    a.cluster.DialOptions(),
	}
	if a.ingester != nil {
		// The distributor pushes to this process's ingester by a method
		// call, not through a loopback gRPC round trip (about two thirds
		// of the all-in-one's CPU per sample went there; BENCHMARKS.md),
		// and its querier reads that ingester's QueryStream the same way.
		opts.Local = &clientpool.LocalIngester{Addr: a.lifecycler.Addr(), Pusher: a.ingester, Querier: a.ingester}
	}
	var err error
	a.pool, err = clientpool.New(a.cfg.IngesterClient, opts, a.logger.With("component", "ingester-client"), a.reg)
	if err != nil {
		return nil, fmt.Errorf("building the ingester client pool: %w", err)
	}
	a.svcs = append(a.svcs, a.pool.Service())
	return a.pool, nil
}

// ringAddresses lists the gRPC addresses of a ring's instances, so the
// client pool closes clients of instances that left.
type ringAddresses struct{ r *ring.Ring }

func (ra ringAddresses) Addresses() ([]string, error) {
	rs, err := ra.r.GetAll(ring.Read)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, 0, len(rs.Instances))
	for _, inst := range rs.Instances {
		addrs = append(addrs, inst.Addr)
	}
	return addrs, nil
}

func (a *App) initQuerier(explicitSet) error {
	if !a.cfg.has(TargetQuerier) {
		return nil
	}
	if err := a.buildQuerier(); err != nil {
		return err
	}
	// A process that runs the query frontend serves the API through it.
	if !a.cfg.has(TargetQueryFrontend) {
		a.servers.mux.Handle(a.cfg.Querier.HTTPPrefix+"/", a.tenantHTTP(auth.ScopeRead, a.querier.Handler()))
	}
	// Series deletion needs the admin scope; it bumps the tenant's
	// results-cache generation, so no frontend serves deleted data.
	a.servers.mux.Handle(a.cfg.Querier.HTTPPrefix+deleteSeriesPath, a.tenantHTTP(auth.ScopeAdmin, a.querier.DeleteSeriesHandler(a.bumpCacheGeneration)))
	return nil
}

// buildQuerier builds the process's querier once: the querier target
// serves it, the ruler queries through it.
func (a *App) buildQuerier() error {
	if a.querier != nil {
		return nil
	}
	pool, err := a.clientPool()
	if err != nil {
		return err
	}
	st, err := a.initStore()
	if err != nil {
		return err
	}
	var local *querier.LocalIngester
	if a.ingester != nil {
		// The querier reads this process's ingester in place when it is
		// the only one a read asks (BENCHMARKS.md, issue #18).
		ing := a.ingester
		local = &querier.LocalIngester{Addr: a.lifecycler.Addr(), Open: func(ctx context.Context, mint, maxt int64) (querier.LocalChunkQuerier, error) {
			q, err := ing.QueryLocal(ctx, mint, maxt)
			if err != nil {
				return nil, err
			}
			return q, nil
		}}
	}
	a.querier, err = querier.New(a.cfg.Querier.Config, querier.Deps{
		Logger:     a.logger.With("component", "querier"),
		Registerer: a.billingRegisterer(),
		Instances:  a.ingesterRing,
		Clients:    pool,
		Store:      st,
		Limits:     a.overrides,
		Features:   a.features(),
		Local:      local,
	})
	if err != nil {
		return fmt.Errorf("building the querier: %w", err)
	}
	a.svcs = append(a.svcs, a.querier.Service())
	return nil
}

// advertisedAddr turns a bound address into one peers can dial: an
// unspecified host (":9095", "[::]:9095") becomes the first non-loopback
// address of this host, or loopback when there is none.
func advertisedAddr(bound string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(bound)
	if err != nil {
		return "", 0, fmt.Errorf("parsing bound address %q: %w", bound, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, fmt.Errorf("parsing port of %q: %w", bound, err)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return host, port, nil
	}
	addrs, _ := net.InterfaceAddrs()
	for _, addr := range addrs {
		if ipn, ok := addr.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String(), port, nil
		}
	}
	return "127.0.0.1", port, nil
}

// Run runs every service until ctx ends or one fails, then stops them in
// reverse order.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return a.manager.Run(ctx, a.cfg.Server.GracefulTimeout+10*time.Second)
}

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() string { return a.servers.HTTPAddr() }

// InternalAddr is the bound operator HTTP address.
func (a *App) InternalAddr() string { return a.servers.InternalAddr() }

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.servers.GRPCAddr() }

// Ready reports whether every service of the process is running.
func (a *App) Ready() bool {
	ok, _ := a.manager.Ready()
	return ok
}

// printBanner tells the operator of the all-in-one where to point
// Prometheus and Grafana, once every component is running.
func (a *App) printBanner(ctx context.Context, w io.Writer) {
	for _, svc := range a.manager.Services() {
		if svc.AwaitRunning(ctx) != nil {
			return // Stopped or failed before running: Run reports why.
		}
	}
	host, port, _ := net.SplitHostPort(a.HTTPAddr())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, port)
	ihost, iport, _ := net.SplitHostPort(a.InternalAddr())
	if ip := net.ParseIP(ihost); ip == nil || ip.IsUnspecified() {
		ihost = "localhost"
	}
	internal := "http://" + net.JoinHostPort(ihost, iport)
	tenantHint := "basic_auth: { username: <tenant>, password: <key> }"
	if a.cfg.Auth.Mode != auth.ModeAPIKeys {
		tenantHint = "headers: { X-Scope-OrgID: <tenant> }"
	}
	keysCmd := func(cmd string) string {
		return "bin/hearth keys " + cmd + " --addr " + internal + " --token-file " + a.operatorToken.Path
	}
	keys := "  Create the first key:\n      " + keysCmd("create --tenant <tenant> --scope write,read") + "\n"
	if a.cfg.Auth.Mode != auth.ModeAPIKeys {
		keys = ""
	} else if a.keys != nil {
		tenants, err := a.keys.Tenants(ctx)
		switch {
		case err != nil:
			keys = "  Create a key:\n      " + keysCmd("create --tenant <tenant> --scope write,read") + "\n"
		case len(tenants) > 0:
			n, names := 0, make([]string, 0, 5)
			for i, t := range tenants {
				n += t.Keys
				if i < 5 {
					names = append(names, string(t.Tenant))
				}
			}
			if len(tenants) > len(names) {
				names = append(names, "...")
			}
			keys = fmt.Sprintf("  %s with %s (%s). List a tenant's keys:\n      %s\n", plural(len(tenants), "tenant"), plural(n, "key"), strings.Join(names, ", "),
				keysCmd("list --tenant <tenant>"))
		}
	}
	fmt.Fprintf(w, `
Hearth is running (all components, replication factor %d, data in %s).

  Prometheus remote_write:  %s/api/v1/push
      %s
  Grafana Prometheus datasource:  %s%s
      (basic auth: user <tenant>, password <key>)

  Operator credential: %s
%s  Operator endpoints (keep them private): %s/ring  %s/config  %s/services
      (a browser asks for a user, any, and the operator token as password;
      %s/metrics and /ready need none)

`, a.cfg.Ingester.Ring.ReplicationFactor, a.cfg.Storage.Dir, base, tenantHint, base, a.cfg.Querier.HTTPPrefix,
		a.operatorToken.Path, keys, internal, internal, internal, internal)
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
