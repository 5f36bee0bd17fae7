package queryrange

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hearthmetrics/hearth/pkg/frontend/resultscache"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Handler answers one parsed query. Middlewares wrap one another as
// Handlers; the innermost sends the request to a querier.
type Handler interface {
	Do(ctx context.Context, r *Request) (*Response, error)
}

// HandlerFunc is a function that is a [Handler].
type HandlerFunc func(ctx context.Context, r *Request) (*Response, error)

// Do calls f.
func (f HandlerFunc) Do(ctx context.Context, r *Request) (*Response, error) { return f(ctx, r) }

// Config switches the middlewares and sizes the results cache.
type Config struct {
	// SplitQueriesByInterval splits range queries at multiples of it; 0
	// disables splitting.
	SplitQueriesByInterval time.Duration `yaml:"split_queries_by_interval"`
	// CacheResults turns the results cache on.
	CacheResults bool `yaml:"cache_results"`
	// ResultsCache is the cache's backend.
	ResultsCache resultscache.Config `yaml:"results_cache"`
	// QuerySharding turns query sharding on; each tenant's
	// query_sharding_total_shards says into how many shards.
	QuerySharding bool `yaml:"query_sharding_enabled"`
	// MaxResponseSizeBytes bounds one querier response read by the
	// middlewares.
	MaxResponseSizeBytes int64 `yaml:"max_response_size_bytes"`
	// ShardingMaxSamples bounds the samples the frontend's engine holds at
	// once while merging shards, as -querier.max-samples does.
	ShardingMaxSamples int `yaml:"query_sharding_max_samples"`
}

// RegisterFlags registers the flags under -frontend.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.SplitQueriesByInterval, "frontend.split-queries-by-interval", 24*time.Hour, "Split range queries at multiples of this interval (UTC), run the parts in parallel (at most max_query_parallelism per query) and cache each part on its own. 0 disables splitting.")
	f.BoolVar(&c.CacheResults, "frontend.cache-results", true, "Cache range-query results (see -frontend.results-cache.backend and the per-tenant max_cache_freshness).")
	c.ResultsCache.RegisterFlagsWithPrefix("frontend.results-cache.", f)
	f.BoolVar(&c.QuerySharding, "frontend.query-sharding-enabled", true, "Shard aggregations into -frontend.query-sharding-total-shards sub-queries merged by the frontend.")
	f.Int64Var(&c.MaxResponseSizeBytes, "frontend.max-response-size-bytes", 512<<20, "Maximum size of one querier response the frontend reads to split, cache or shard a query; larger fail with 422.")
	f.IntVar(&c.ShardingMaxSamples, "frontend.query-sharding-max-samples", 50_000_000, "Maximum samples the frontend holds at once while merging the shards of one query, as -querier.max-samples does in a querier.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.SplitQueriesByInterval < 0 {
		errs = append(errs, fmt.Errorf("frontend.split-queries-by-interval is %s, must not be negative", c.SplitQueriesByInterval))
	}
	if c.MaxResponseSizeBytes <= 0 {
		errs = append(errs, fmt.Errorf("frontend.max-response-size-bytes is %d, must be positive", c.MaxResponseSizeBytes))
	}
	if c.ShardingMaxSamples <= 0 {
		errs = append(errs, fmt.Errorf("frontend.query-sharding-max-samples is %d, must be positive", c.ShardingMaxSamples))
	}
	if c.CacheResults {
		if err := c.ResultsCache.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LimitsSource answers a tenant's limits; *limits.Overrides is one.
type LimitsSource interface {
	For(t tenant.ID) *limits.Limits
}

// Generations answers a tenant's results-cache generation;
// *cachegen.Generations is one.
type Generations interface {
	Get(ctx context.Context, tenant string) (uint64, error)
}

// Deps are what [New] needs.
type Deps struct {
	Limits LimitsSource
	// Generations may be nil: every tenant is then at generation 0, and
	// deleted data may come back from the cache until it expires.
	Generations Generations
	// Cache, when not nil, replaces the backend [Config.ResultsCache] names.
	Cache      resultscache.Cache
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Middlewares are the range- and instant-query middlewares.
type Middlewares struct {
	cfg     Config
	deps    Deps
	now     func() time.Time
	parser  parser.Parser
	metrics *metrics
	cache   resultscache.Cache
	sharder *sharder
}

// New builds the middlewares. Wrap a RoundTripper that sends one request to
// a querier with the returned function.
func New(cfg Config, deps Deps) (*Middlewares, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Limits == nil {
		return nil, errors.New("queryrange: no limits")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Middlewares{cfg: cfg, deps: deps, now: deps.Now, parser: parser.NewParser(parser.Options{}), metrics: newMetrics(deps.Registerer)}
	if m.now == nil {
		m.now = time.Now
	}
	if cfg.CacheResults {
		m.cache = deps.Cache
		if m.cache == nil {
			c, err := resultscache.New(cfg.ResultsCache, deps.Logger, deps.Registerer)
			if err != nil {
				return nil, fmt.Errorf("building the results cache: %w", err)
			}
			m.cache = c
		}
	}
	if cfg.QuerySharding {
		m.sharder = newSharder(m.parser, cfg.ShardingMaxSamples, deps.Logger)
	}
	return m, nil
}

// Wrap returns a RoundTripper that answers query and query_range requests
// through the middlewares, sending sub-requests to next, and sends every
// other request to next unchanged. The request's context must carry the
// tenant.
func (m *Middlewares) Wrap(next http.RoundTripper) http.RoundTripper {
	inner := &querierHandler{next: next, maxBytes: m.cfg.MaxResponseSizeBytes}
	var shardNext Handler = inner
	if m.sharder != nil {
		shardNext = &shardMiddleware{next: inner, m: m}
	}
	rangeChain := shardNext
	if m.cache != nil {
		rangeChain = &cacheMiddleware{next: rangeChain, m: m}
	}
	if m.cfg.SplitQueriesByInterval > 0 {
		rangeChain = &splitMiddleware{next: rangeChain, interval: m.cfg.SplitQueriesByInterval.Milliseconds(), m: m}
	}
	rangeChain = &alignMiddleware{next: rangeChain, m: m}
	return &roundTripper{next: next, m: m, rangeChain: rangeChain, instantChain: shardNext}
}

// Close releases the cache's and the sharding engine's resources.
func (m *Middlewares) Close() error {
	var errs []error
	if m.sharder != nil {
		errs = append(errs, m.sharder.close())
	}
	return errors.Join(errs...)
}

type roundTripper struct {
	next                     http.RoundTripper
	m                        *Middlewares
	rangeChain, instantChain Handler
}

func (rt *roundTripper) RoundTrip(hr *http.Request) (*http.Response, error) {
	ctx := hr.Context()
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return rt.next.RoundTrip(hr)
	}
	req, ok, err := parseRequest(hr, rt.m.now())
	if err != nil {
		return errorResponse(hr, apiError(http.StatusBadRequest, "bad_data", err.Error())), nil
	}
	if !ok {
		return rt.next.RoundTrip(hr)
	}
	expr, err := rt.m.parser.ParseExpr(req.Query)
	if err != nil {
		// The querier answers with Prometheus's own error.
		return rt.next.RoundTrip(hr)
	}
	if rewriteAt(expr, req.Start, req.End) {
		req.Query = expr.String()
	}
	if _, ok := StatsFromContext(ctx); !ok {
		ctx, _ = WithStats(ctx)
	}
	ctx = withParallelism(ctx, rt.m.tenantLimits(id).parallelism)
	chain := rt.instantChain
	if req.IsRange() {
		chain = rt.rangeChain
	}
	resp, err := chain.Do(ctx, req)
	if err != nil {
		if ue, ok := errors.AsType[*UpstreamError](err); ok {
			return errorResponse(hr, ue), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isTransport(err) {
			return nil, err
		}
		return errorResponse(hr, apiErrorFor(err)), nil
	}
	body, err := resp.encode()
	if err != nil {
		return errorResponse(hr, apiError(http.StatusInternalServerError, "internal", err.Error())), nil
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       hr,
	}, nil
}

func errorResponse(hr *http.Request, e *UpstreamError) *http.Response {
	h := e.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Del("Content-Length")
	return &http.Response{
		Status:        strconv.Itoa(e.Status) + " " + http.StatusText(e.Status),
		StatusCode:    e.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(e.Body)),
		ContentLength: int64(len(e.Body)),
		Request:       hr,
	}
}

// transportError marks an error of the RoundTripper to a querier: the
// frontend may retry the whole request.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func isTransport(err error) bool {
	_, ok := errors.AsType[*transportError](err)
	return ok
}

// querierHandler sends one request to a querier, within the query's
// parallelism.
type querierHandler struct {
	next     http.RoundTripper
	maxBytes int64
}

func (q *querierHandler) Do(ctx context.Context, r *Request) (*Response, error) {
	release, err := acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	hr, err := r.toHTTP(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := q.next.RoundTrip(hr)
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("sending a query to a querier: %w", err)}
	}
	return decodeResponse(resp, q.maxBytes)
}

// tenantLimits are a (possibly federated, "a|b") tenant's limits: the
// strictest of each.
type tenantLimits struct {
	ids            []string
	parallelism    int
	freshness      time.Duration
	oooWindow      time.Duration
	align          bool
	cacheUnaligned bool
	shards         int
}

func (m *Middlewares) tenantLimits(id tenant.ID) tenantLimits {
	tl := tenantLimits{ids: strings.Split(string(id), "|"), align: true, cacheUnaligned: true}
	for i, s := range tl.ids {
		l := m.deps.Limits.For(tenant.ID(s))
		if i == 0 || (l.MaxQueryParallelism > 0 && l.MaxQueryParallelism < tl.parallelism) {
			tl.parallelism = l.MaxQueryParallelism
		}
		if i == 0 || l.QueryShardingTotalShards < tl.shards {
			tl.shards = l.QueryShardingTotalShards
		}
		tl.freshness = max(tl.freshness, time.Duration(l.MaxCacheFreshness))
		tl.oooWindow = max(tl.oooWindow, time.Duration(l.OutOfOrderTimeWindow))
		tl.align = tl.align && l.AlignQueriesWithStep
		tl.cacheUnaligned = tl.cacheUnaligned && l.CacheUnalignedRequests
	}
	return tl
}

type parallelismKey struct{}

// withParallelism bounds the sub-requests of one query in flight at once.
func withParallelism(ctx context.Context, n int) context.Context {
	if n <= 0 {
		return ctx
	}
	return context.WithValue(ctx, parallelismKey{}, make(chan struct{}, n))
}

func acquire(ctx context.Context) (func(), error) {
	sem, ok := ctx.Value(parallelismKey{}).(chan struct{})
	if !ok {
		return func() {}, nil
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
