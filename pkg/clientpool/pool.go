package clientpool

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Config is the pool's configuration, registered under a prefix chosen by
// the wiring (e.g. "ingester-client").
type Config struct {
	HealthCheckPeriod  time.Duration `yaml:"health_check_period"`
	HealthCheckTimeout time.Duration `yaml:"health_check_timeout"`
	KeepaliveTime      time.Duration `yaml:"keepalive_time"`
	KeepaliveTimeout   time.Duration `yaml:"keepalive_timeout"`
}

// RegisterFlagsWithPrefix registers the flags as -<prefix>.<name>.
func (c *Config) RegisterFlagsWithPrefix(prefix string, f *flag.FlagSet) {
	// 15s and 1s: a dead ingester is dropped within seconds of the ring
	// noticing it, without a check storm.
	f.DurationVar(&c.HealthCheckPeriod, prefix+".health-check-period", 15*time.Second, "How often every ingester client is health-checked; failing clients are closed and redialled on next use. 0 disables health checks.")
	f.DurationVar(&c.HealthCheckTimeout, prefix+".health-check-timeout", time.Second, "Timeout of one health check.")
	// gRPC's keepalive pings find half-open connections that health checks
	// between periods would not.
	f.DurationVar(&c.KeepaliveTime, prefix+".keepalive-time", 20*time.Second, "Idle time after which the client pings the ingester.")
	f.DurationVar(&c.KeepaliveTimeout, prefix+".keepalive-timeout", 10*time.Second, "How long to wait for a ping's answer before closing the connection.")
}

// Validate reports every invalid field.
func (c *Config) Validate() error {
	var errs []error
	if c.HealthCheckPeriod < 0 {
		errs = append(errs, fmt.Errorf("health-check-period is %s, must not be negative", c.HealthCheckPeriod))
	}
	if c.HealthCheckPeriod > 0 && c.HealthCheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("health-check-timeout is %s, must be positive", c.HealthCheckTimeout))
	}
	if c.KeepaliveTime <= 0 || c.KeepaliveTimeout <= 0 {
		errs = append(errs, fmt.Errorf("keepalive-time (%s) and keepalive-timeout (%s) must be positive", c.KeepaliveTime, c.KeepaliveTimeout))
	}
	return errors.Join(errs...)
}

// AddressSource lists the addresses that may keep a client, e.g. the
// ring's instances. Must be safe for concurrent use.
type AddressSource interface {
	Addresses() ([]string, error)
}

// AddressFunc adapts a function to AddressSource.
type AddressFunc func() ([]string, error)

// Addresses calls f.
func (f AddressFunc) Addresses() ([]string, error) { return f() }

// Options are the pool's non-flag settings, computed by the wiring.
type Options struct {
	// Name labels the pool's metrics (pool="distributor"); two pools in
	// one process need different names.
	Name string
	// MaxSendMsgSize and MaxRecvMsgSize bound gRPC messages; 0 keeps
	// gRPC's defaults (unlimited send, 4 MiB receive).
	MaxSendMsgSize, MaxRecvMsgSize int
	// Addresses, when set, is consulted every health-check period: clients
	// of addresses it no longer lists are closed.
	Addresses AddressSource
	// DialOptions are added to the pool's own (e.g. transport
	// credentials, which default to insecure).
	DialOptions []grpc.DialOption
	// Local, when set, is the ingester of this process: the client of its
	// address sends Push by a direct method call, other calls over gRPC.
	Local *LocalIngester
}

type client struct {
	ingesterpb.IngesterClient
	healthpb.HealthClient
	conn *grpc.ClientConn
}

// Pool holds one client per address. Safe for concurrent use.
type Pool struct {
	cfg    Config
	opts   Options
	logger *slog.Logger

	mu      sync.RWMutex
	clients map[string]*client

	size    prometheus.Gauge
	removed *prometheus.CounterVec
	checks  *prometheus.CounterVec
	svc     *services.Service
}

// New returns a pool; its service runs the health checks.
func New(cfg Config, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Name == "" {
		return nil, errors.New("clientpool: Options.Name is required")
	}
	f := promauto.With(reg)
	constLabels := prometheus.Labels{"pool": opts.Name}
	p := &Pool{
		cfg: cfg, opts: opts, logger: logger.With("pool", opts.Name),
		clients: map[string]*client{},
		size: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_clientpool_clients", Help: "Open ingester clients.", ConstLabels: constLabels,
		}),
		removed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_clientpool_removed_clients_total", Help: "Clients closed, by reason (unhealthy, left_ring).", ConstLabels: constLabels,
		}, []string{"reason"}),
		checks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_clientpool_health_checks_total", Help: "Health checks, by result (ok, failed).", ConstLabels: constLabels,
		}, []string{"result"}),
	}
	p.svc = services.New("clientpool-"+opts.Name, nil, p.run, p.stop)
	return p, nil
}

// Service runs the periodic health checks; stopping it closes every client.
func (p *Pool) Service() *services.Service { return p.svc }

// Get returns the client for addr, dialling it (lazily: no network I/O
// happens here) when there is none.
func (p *Pool) Get(addr string) (ingesterpb.IngesterClient, error) {
	p.mu.RLock()
	c := p.clients[addr]
	p.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[addr]; c != nil {
		return c, nil
	}
	c, err := p.dial(addr)
	if err != nil {
		return nil, err
	}
	p.clients[addr] = c
	p.size.Set(float64(len(p.clients)))
	return c, nil
}

func (p *Pool) dial(addr string) (*client, error) {
	callOpts := []grpc.CallOption{}
	if p.opts.MaxSendMsgSize > 0 {
		callOpts = append(callOpts, grpc.MaxCallSendMsgSize(p.opts.MaxSendMsgSize))
	}
	if p.opts.MaxRecvMsgSize > 0 {
		callOpts = append(callOpts, grpc.MaxCallRecvMsgSize(p.opts.MaxRecvMsgSize))
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		gogocodec.DialOption(),
		grpc.WithDefaultCallOptions(callOpts...),
		grpc.WithChainUnaryInterceptor(tenant.UnaryClientInterceptor),
		grpc.WithChainStreamInterceptor(tenant.StreamClientInterceptor),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: p.cfg.KeepaliveTime, Timeout: p.cfg.KeepaliveTimeout, PermitWithoutStream: true}),
	}
	opts = append(opts, p.opts.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating client for ingester %s: %w", addr, err)
	}
	c := &client{IngesterClient: ingesterpb.NewIngesterClient(conn), HealthClient: healthpb.NewHealthClient(conn), conn: conn}
	if l := p.opts.Local; l != nil && l.Addr == addr {
		c.IngesterClient = &localClient{IngesterClient: c.IngesterClient, pusher: l.Pusher, querier: l.Querier}
	}
	return c, nil
}

// Remove closes addr's client, if any.
func (p *Pool) Remove(addr string) { p.remove(addr, "") }

func (p *Pool) remove(addr, reason string) {
	p.mu.Lock()
	c := p.clients[addr]
	delete(p.clients, addr)
	p.size.Set(float64(len(p.clients)))
	p.mu.Unlock()
	if c == nil {
		return
	}
	if reason != "" {
		p.removed.WithLabelValues(reason).Inc()
	}
	if err := c.conn.Close(); err != nil {
		p.logger.Warn("Closing ingester client failed", "addr", addr, "err", err)
	}
}

// Addrs returns the addresses with a client, for tests and status pages.
func (p *Pool) Addrs() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.clients))
	for a := range p.clients {
		out = append(out, a)
	}
	return out
}

func (p *Pool) run(ctx context.Context) error {
	if p.cfg.HealthCheckPeriod == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(p.cfg.HealthCheckPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.CheckNow(ctx)
		}
	}
}

// CheckNow removes the clients of addresses that left and health-checks
// the others in parallel, closing those that fail. The service calls it
// every period.
func (p *Pool) CheckNow(ctx context.Context) {
	if p.opts.Addresses != nil {
		if addrs, err := p.opts.Addresses.Addresses(); err != nil {
			p.logger.Warn("Listing ingester addresses failed", "err", err)
		} else {
			keep := make(map[string]struct{}, len(addrs))
			for _, a := range addrs {
				keep[a] = struct{}{}
			}
			for _, a := range p.Addrs() {
				if _, ok := keep[a]; !ok {
					p.remove(a, "left_ring")
				}
			}
		}
	}
	p.mu.RLock()
	clients := make(map[string]*client, len(p.clients))
	for a, c := range p.clients {
		clients[a] = c
	}
	p.mu.RUnlock()
	var wg sync.WaitGroup
	for addr, c := range clients {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, p.cfg.HealthCheckTimeout)
			defer cancel()
			resp, err := c.Check(cctx, &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = fmt.Errorf("status %s", resp.GetStatus())
			}
			if err != nil {
				if ctx.Err() != nil {
					return // stopping, not unhealthy
				}
				p.checks.WithLabelValues("failed").Inc()
				p.logger.Warn("Ingester health check failed, closing its client", "addr", addr, "err", err)
				p.remove(addr, "unhealthy")
				return
			}
			p.checks.WithLabelValues("ok").Inc()
		})
	}
	wg.Wait()
}

func (p *Pool) stop(error) error {
	p.mu.Lock()
	clients := p.clients
	p.clients = map[string]*client{}
	p.size.Set(0)
	p.mu.Unlock()
	var errs []error
	for addr, c := range clients {
		if err := c.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing client for %s: %w", addr, err))
		}
	}
	return errors.Join(errs...)
}
