package querier

import (
	"context"
	"errors"
	"fmt"
	"github.com/grafana/regexp"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/scrape"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/hearthmetrics/hearth/pkg/querier/federation"
	"github.com/hearthmetrics/hearth/pkg/services"
)

// Deps are the querier's dependencies.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Instances names the ingesters to read from (the ring).
	Instances Instances
	// Clients dials them (the client pool).
	Clients Clients
	// Store is the long-term chunk store (a *chunk.Store), read for data
	// older than -querier.query-store-after. Nil reads the ingesters only,
	// whatever the time range. Never pass a typed nil pointer.
	Store Store
	// Limits are the per-tenant limits (the *limits.Overrides): the
	// querier enforces -querier.max-query-length and, on what it reads from
	// the store, the per-query series, chunk and chunk-bytes limits (the
	// ingesters enforce those on their own reads). Nil enforces none of
	// them in the querier.
	Limits Limits
	// Features are the capabilities the deployment runs, reported by
	// status/buildinfo.
	Features Features
	// Local is the ingester of this process, if it runs one: read in
	// place when it is the only ingester a read asks.
	Local *LocalIngester
}

// Querier is the read-path component: the [Queryable] over ingesters and
// chunk store, the PromQL
// engine over it and the Prometheus HTTP API.
type Querier struct {
	cfg       Config
	logger    *slog.Logger
	queryable *Queryable
	engine    *promql.Engine // For tenants without a samples limit, and the ruler.
	limited   *promql.Engine // With query-cost accounting, for the others.
	parser    *handoffParser // Both engines'.
	handler   http.Handler
	features  Features
	tracker   *concurrencyLimiter // -querier.max-concurrent, shared by the engines, remote read and federation.
}

// New builds a querier. It registers the hearth_querier_* metrics and the
// engine's prometheus_engine_* metrics with deps.Registerer, so one
// registerer takes one querier.
func New(cfg Config, deps Deps) (*Querier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid querier config: %w", err)
	}
	if deps.Instances == nil || deps.Clients == nil {
		return nil, errors.New("querier needs Instances and Clients")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := &Querier{
		cfg:      cfg,
		logger:   logger,
		features: deps.Features,
		queryable: &Queryable{
			instances: deps.Instances,
			clients:   deps.Clients,
			store:     deps.Store,
			local:     deps.Local,
			limits:    deps.Limits,
			cfg:       cfg,
			now:       time.Now,
			metrics:   newMetrics(deps.Registerer),
		},
	}
	// Two engines share one concurrency limit: the samples-read budget
	// needs the engine's query-cost accounting, which costs a range query
	// about 60% more CPU, so only tenants with a
	// -querier.max-samples-per-query run on the engine that has it.
	tracker := newConcurrencyLimiter(cfg.MaxConcurrent)
	q.tracker = tracker
	// Both engines take the expression the API's limit checks parsed.
	q.parser = newHandoffParser()
	opts := EngineOpts(cfg, logger, engineRegisterer(deps.Registerer, "off"), tracker, false)
	opts.Parser = q.parser
	q.engine = promql.NewEngine(opts)
	opts = EngineOpts(cfg, logger, engineRegisterer(deps.Registerer, "on"), tracker, true)
	opts.Parser = q.parser
	q.limited = promql.NewEngine(opts)
	q.handler = q.newHandler()
	return q, nil
}

// engineRegisterer labels an engine's prometheus_engine_* metrics with
// whether its queries carry a samples limit.
func engineRegisterer(reg prometheus.Registerer, samplesLimit string) prometheus.Registerer {
	if reg == nil {
		return nil
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"samples_limit": samplesLimit}, reg)
}

// EngineOpts returns the PromQL engine options for cfg: Prometheus 3's
// defaults (the @ modifier, negative offsets, native histograms) with
// cfg's timeout, sample limit and lookback delta, the concurrency limit
// tracker, and query-cost accounting when queryCost is set.
func EngineOpts(cfg Config, logger *slog.Logger, reg prometheus.Registerer, tracker promql.QueryTracker, queryCost bool) promql.EngineOpts {
	return promql.EngineOpts{
		Logger:                   logger,
		Reg:                      reg,
		MaxSamples:               cfg.MaxSamples,
		Timeout:                  cfg.Timeout,
		ActiveQueryTracker:       tracker,
		LookbackDelta:            cfg.LookbackDelta,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() }, // Prometheus's default evaluation interval.
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		// Query cost carries each tenant's -querier.max-samples-per-query
		// (see tenantEngine); the engine-wide ceilings stay unset.
		EnableQueryCost: queryCost,
		Parser:          parser.NewParser(parser.Options{}),
	}
}

// Queryable returns the querier's [storage.SampleAndChunkQueryable] over the
// ingesters and the chunk store, for the ruler.
func (q *Querier) Queryable() *Queryable { return q.queryable }

// Engine returns the querier's PromQL engine.
func (q *Querier) Engine() *promql.Engine { return q.engine }

// Handler returns the Prometheus HTTP API, routed under
// [Config.HTTPPrefix]/api/v1/. It answers only for the tenant in the
// request's context: wrap it with tenant middleware.
func (q *Querier) Handler() http.Handler { return q.handler }

// Service returns the querier's lifecycle: it has nothing to start, and
// closes the engine when stopped.
func (q *Querier) Service() *services.Service {
	return services.New("querier", nil, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}, func(error) error {
		return errors.Join(q.engine.Close(), q.limited.Close())
	})
}

// apiPaths are the Prometheus API endpoints Hearth serves, relative to
// <prefix>/api/v1. The rest of Prometheus's API (targets, rules, TSDB admin,
// remote write) has no meaning on a querier and answers 404.
var apiPaths = []string{
	"/query", "/query_range", "/query_exemplars", "/format_query", "/parse_query",
	"/series", "/labels", "/label/{name}/values", "/read",
}

func (q *Querier) newHandler() http.Handler {
	// Tenant federation: a request of several tenants reads each; one of a
	// single tenant goes straight through.
	queryable := federation.NewQueryable(q.queryable)
	api := v1.NewAPI(
		newTenantEngine(q.engine, q.limited, q.parser, q.queryable.limits, q.queryable.metrics),
		queryable,
		nil, // No remote write here: the distributor takes writes.
		federation.NewExemplarQueryable(q.queryable),
		func(context.Context) v1.ScrapePoolsRetriever { return noTargets{} },
		func(context.Context) v1.TargetRetriever { return noTargets{} },
		func(context.Context) v1.AlertmanagerRetriever { return noTargets{} },
		func() config.Config { return config.DefaultConfig },
		map[string]string{},
		v1.GlobalURLOptions{},
		func(f http.HandlerFunc) http.HandlerFunc { return f },
		nil, "", false, // No TSDB admin: Hearth has no local TSDB to administer.
		false, 0, // No search API.
		q.logger,
		func(context.Context) v1.RulesRetriever { return nil },
		// Remote read is Hearth's own handler (remoteread.go), with the
		// tenant's limits; the upstream one is built but never routed.
		50_000_000, 10, 1<<20,
		false,
		regexp.MustCompile(`^$`), // No CORS: browsers reach Hearth through Grafana.
		func() (v1.RuntimeInfo, error) { return v1.RuntimeInfo{}, errors.New("not available") },
		nil, // status/buildinfo is Hearth's own handler (status.go), routed before the upstream API.
		nil, nil,
		nil,
		nil, // The registerer of the unrouted remote read handler's metrics.
		nil,
		false, nil,
		false, false, false,
		q.cfg.LookbackDelta,
		false, false,
		statusCode,
		nil,
		v1.OpenAPIOptions{},
		parser.NewParser(parser.Options{}),
		false,
		q.cfg.Timeout,
	)
	api.InstallCodec(resultCodec{})
	router := route.New()
	apiPrefix := q.cfg.HTTPPrefix + "/api/v1"
	api.Register(router.WithPrefix(apiPrefix))

	seriesLength := &queryLengthHandler{
		next:    router,
		limits:  q.queryable.limits,
		logger:  q.logger,
		metrics: q.queryable.metrics,
	}
	// Expressions are measured before anything parses them.
	guarded := &exprGuard{next: router, limits: q.queryable.limits, rejected: q.queryable.metrics.queriesRejected, logger: q.logger}
	slots := newTenantSlots(q.queryable.limits)
	mux := http.NewServeMux()
	for _, p := range apiPaths {
		switch p {
		case "/query", "/query_range", "/query_exemplars":
			mux.Handle(apiPrefix+p, slots.wrap(guarded))
		case "/series":
			mux.Handle(apiPrefix+p, slots.wrap(seriesLength))
		case "/labels", "/label/{name}/values":
			mux.Handle(apiPrefix+p, slots.wrap(router))
		case "/read":
			mux.Handle("POST "+apiPrefix+p, slots.wrap(&remoteReadHandler{
				queryable: queryable, limits: q.queryable.limits, maxHeld: q.cfg.MaxSamples,
				slots: q.tracker, logger: q.logger, metrics: q.queryable.metrics,
			}))
		case "/format_query", "/parse_query":
			mux.Handle(apiPrefix+p, guarded)
		default:
			mux.Handle(apiPrefix+p, router)
		}
	}
	mux.Handle("GET "+q.cfg.HTTPPrefix+"/federate", slots.wrap(&federateHandler{
		queryable: queryable, parser: parser.NewParser(parser.Options{}), lookback: q.cfg.LookbackDelta,
		now: q.queryable.now, slots: q.tracker, logger: q.logger, metrics: q.queryable.metrics,
	}))
	// The cardinality API and the TSDB status read one tenant's heads:
	// tenant federation does not cover them.
	single := func(h http.Handler) http.Handler { return singleTenant(q.logger, slots.wrap(h)) }
	(&cardinalityHandler{q: q.queryable, parser: parser.NewParser(parser.Options{}), logger: q.logger, metrics: q.queryable.metrics}).register(mux, apiPrefix, single)
	mux.Handle(apiPrefix+"/metadata", &metadataHandler{q: q.queryable, logger: q.logger})
	q.registerStatus(mux, apiPrefix, single)
	return mux
}

// noTargets answers the target, scrape-pool and Alertmanager questions of
// the Prometheus API: a querier has none.
type noTargets struct{}

func (noTargets) ScrapePools() []string { return nil }
func (noTargets) ScrapePoolConfig(string) (*config.ScrapeConfig, error) {
	return nil, errors.New("no scrape pools")
}
func (noTargets) TargetsActive() map[string][]*scrape.Target  { return nil }
func (noTargets) TargetsDropped() map[string][]*scrape.Target { return nil }
func (noTargets) TargetsDroppedCounts() map[string]int        { return nil }
func (noTargets) Alertmanagers() []*url.URL                   { return nil }
func (noTargets) DroppedAlertmanagers() []*url.URL            { return nil }

// concurrencyLimiter bounds the queries the engine evaluates at once
// (-querier.max-concurrent). It is the engine's query tracker, kept in
// memory: Prometheus's own tracker needs a file.
type concurrencyLimiter struct {
	slots chan struct{}
}

var _ promql.QueryTracker = (*concurrencyLimiter)(nil)

func newConcurrencyLimiter(n int) *concurrencyLimiter {
	return &concurrencyLimiter{slots: make(chan struct{}, n)}
}

func (l *concurrencyLimiter) GetMaxConcurrent() int { return cap(l.slots) }

// Insert waits for a free slot. It returns the engine's timeout or
// cancellation error when ctx ends first, so the API reports 503 timeout or
// 499 as for a query that ran out of time.
func (l *concurrencyLimiter) Insert(ctx context.Context, _ string) (int, error) {
	if err := queueErr(ctx); err != nil {
		return 0, err
	}
	select {
	case l.slots <- struct{}{}:
		return 0, nil
	case <-ctx.Done():
		return 0, queueErr(ctx)
	}
}

func queueErr(ctx context.Context) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return promql.ErrQueryTimeout("query queue")
	case ctx.Err() != nil:
		return promql.ErrQueryCanceled("query queue")
	}
	return nil
}

func (l *concurrencyLimiter) Delete(int) { <-l.slots }

func (l *concurrencyLimiter) Close() error { return nil }
