package querier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantEngine is the engine the HTTP API runs queries on. Before a query
// waits for the engine, it checks the expression against the tenant's
// limits (length, tokens and depth; then, parsed, its steps and its time
// range, see exprlimits.go) and hands the parsed expression to the engine
// so that it is parsed once. It gives each query its tenant's
// -querier.max-samples-per-query as the engine's samples-read limit
// (Prometheus's query-cost budget, which counts every sample a query reads
// from storage, wherever it comes from), and names the limit, its value
// and the tenant when a query goes past it. Queries of tenants without the
// limit run on an engine without query-cost accounting, which costs a
// range query about 60% more CPU.
type tenantEngine struct {
	engine  *promql.Engine // Without query-cost accounting.
	limited *promql.Engine // With it, for tenants with a samples limit.
	parser  *handoffParser // Both engines'.
	limits  Limits
	metrics *metrics
}

var _ promql.QueryEngine = (*tenantEngine)(nil)

// defaultSubqueryStep is the step of a subquery that names none: the
// engines' NoStepSubqueryIntervalFn.
const defaultSubqueryStep = time.Minute

func newTenantEngine(engine, limited *promql.Engine, p *handoffParser, l Limits, m *metrics) *tenantEngine {
	return &tenantEngine{engine: engine, limited: limited, parser: p, limits: l, metrics: m}
}

func (e *tenantEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	takeBack, err := e.prepare(ctx, qs, 0, 0)
	if err != nil {
		return nil, err
	}
	defer takeBack()
	opts, limit, id := e.withLimit(ctx, opts)
	qry, err := e.pick(limit).NewInstantQuery(ctx, q, opts, qs, ts)
	return e.wrap(ctx, qry, err, limit, id, "query")
}

func (e *tenantEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	takeBack, err := e.prepare(ctx, qs, end.Sub(start), interval)
	if err != nil {
		return nil, err
	}
	defer takeBack()
	opts, limit, id := e.withLimit(ctx, opts)
	qry, err := e.pick(limit).NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	return e.wrap(ctx, qry, err, limit, id, "query_range")
}

// prepare checks qs, evaluated over span at interval (0, 0 for an instant
// query), against its tenant's limits, and hands its parse to the engine
// until takeBack is called. An expression that does not parse returns the
// parser's error, which the API answers as the engine's would be.
func (e *tenantEngine) prepare(ctx context.Context, qs string, span, interval time.Duration) (takeBack func(), err error) {
	if e.limits == nil {
		return func() {}, nil
	}
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return func() {}, nil // The engine parses; the API has refused a request without a tenant already.
	}
	l := e.limits.For(id)
	if lerr := checkExprText(qs, l, id); lerr != nil {
		e.metrics.queriesRejected.WithLabelValues(lerr.reason).Inc()
		return nil, lerr
	}
	expr, err := e.parser.Parser.ParseExpr(qs)
	if err != nil {
		return nil, err
	}
	if err := checkResolution(expr, interval); err != nil {
		return nil, err
	}
	if lerr := checkSteps(expr, span, interval, defaultSubqueryStep, l, id); lerr != nil {
		e.metrics.queriesRejected.WithLabelValues(lerr.reason).Inc()
		return nil, lerr
	}
	if limit := time.Duration(l.MaxQueryLength); limit > 0 {
		if length := max(span, selectorWindow(expr)); length > limit {
			e.metrics.queriesTooLong.Inc()
			return nil, queryLengthError(length, limit, id)
		}
	}
	return e.parser.give(qs, expr), nil
}

// pick returns the engine for a query with the samples limit limit.
func (e *tenantEngine) pick(limit int) *promql.Engine {
	if limit > 0 {
		return e.limited
	}
	return e.engine
}

// withLimit returns opts carrying the tenant's samples limit, or opts
// unchanged when the tenant has none.
func (e *tenantEngine) withLimit(ctx context.Context, opts promql.QueryOpts) (promql.QueryOpts, int, tenant.ID) {
	if e.limits == nil {
		return opts, 0, ""
	}
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return opts, 0, ""
	}
	limit := e.limits.For(id).MaxSamplesPerQuery
	if limit <= 0 {
		return opts, 0, id
	}
	if opts == nil {
		opts = promql.NewPrometheusQueryOpts(false, 0, nil)
	}
	return promql.NewPrometheusQueryOptsWithLimits(opts.EnablePerStepStats(), opts.LookbackDelta(), 0, uint64(limit), 0, opts.UseStartTimestamps()), limit, id
}

// wrap counts an admitted query of the tenant in ctx for its usage (api
// is the API's name for it) and, when the tenant has a samples limit,
// explains the engine's error past it.
func (e *tenantEngine) wrap(ctx context.Context, qry promql.Query, err error, limit int, id tenant.ID, api string) (promql.Query, error) {
	if err != nil {
		return qry, err
	}
	if owner, terr := tenant.FromContext(ctx); terr == nil {
		e.metrics.tenantQueries.WithLabelValues(string(owner), api).Inc()
		qry = &usageQuery{Query: qry, samplesRead: e.metrics.tenantSamplesRead.WithLabelValues(string(owner))}
	}
	if limit <= 0 {
		return qry, nil
	}
	return &limitedQuery{Query: qry, limit: limit, tenant: id, rejected: e.metrics.queriesRejected}, nil
}

// usageQuery adds the samples a query read (the engine's query stats,
// which count them whether or not the query has a samples limit) to its
// tenant's usage.
type usageQuery struct {
	promql.Query
	samplesRead prometheus.Counter
}

func (q *usageQuery) Exec(ctx context.Context) *promql.Result {
	res := q.Query.Exec(ctx)
	if st := q.Query.Stats(); st != nil && st.Samples != nil && st.Samples.TotalSamples > 0 {
		q.samplesRead.Add(float64(st.Samples.TotalSamples))
	}
	return res
}

// limitedQuery is a query that explains a samples-limit error.
type limitedQuery struct {
	promql.Query
	limit    int
	tenant   tenant.ID
	rejected *prometheus.CounterVec
}

func (q *limitedQuery) Exec(ctx context.Context) *promql.Result {
	res := q.Query.Exec(ctx)
	var tooMany promql.ErrTooManySamplesRead
	if res.Err != nil && errors.As(res.Err, &tooMany) {
		q.rejected.WithLabelValues("max_samples_per_query").Inc()
		res.Err = &samplesLimitError{err: tooMany, limit: q.limit, tenant: q.tenant}
	}
	return res
}

// samplesLimitError names the limit a query went past. It unwraps to the
// engine's error, which Prometheus's API answers with 422 cost_limit.
type samplesLimitError struct {
	err    promql.ErrTooManySamplesRead
	limit  int
	tenant tenant.ID
}

func (e *samplesLimitError) Error() string {
	return fmt.Sprintf("the query read more than %d samples, the limit -querier.max-samples-per-query of tenant %q; narrow its time range or selectors (err-hearth-max-samples-per-query)", e.limit, e.tenant)
}

func (e *samplesLimitError) Unwrap() error { return e.err }
