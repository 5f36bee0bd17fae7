package querier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantEngine is the engine the HTTP API runs queries on: it gives each
// query its tenant's -querier.max-samples-per-query as the engine's
// samples-read limit (Prometheus's query-cost budget, which counts every
// sample a query reads from storage, wherever it comes from), and names
// the limit, its value and the tenant when a query goes past it. Queries
// of tenants without the limit run on an engine without query-cost
// accounting, which costs a range query about 60% more CPU.
type tenantEngine struct {
	engine   *promql.Engine // Without query-cost accounting.
	limited  *promql.Engine // With it, for tenants with a samples limit.
	limits   Limits
	rejected *prometheus.CounterVec
}

var _ promql.QueryEngine = (*tenantEngine)(nil)

func newTenantEngine(engine, limited *promql.Engine, l Limits, reg prometheus.Registerer) *tenantEngine {
	return &tenantEngine{
		engine:  engine,
		limited: limited,
		limits:  l,
		rejected: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_querier_queries_rejected_total",
			Help: "Queries stopped by a per-tenant query limit, by reason (max_samples_per_query).",
		}, []string{"reason"}),
	}
}

func (e *tenantEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	opts, limit, id := e.withLimit(ctx, opts)
	qry, err := e.pick(limit).NewInstantQuery(ctx, q, opts, qs, ts)
	return e.wrap(qry, err, limit, id)
}

func (e *tenantEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	opts, limit, id := e.withLimit(ctx, opts)
	qry, err := e.pick(limit).NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	return e.wrap(qry, err, limit, id)
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

func (e *tenantEngine) wrap(qry promql.Query, err error, limit int, id tenant.ID) (promql.Query, error) {
	if err != nil || limit <= 0 {
		return qry, err
	}
	return &limitedQuery{Query: qry, limit: limit, tenant: id, rejected: e.rejected}, nil
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
	return fmt.Sprintf("the query read more than %d samples, the limit -querier.max-samples-per-query of tenant %q; narrow its time range or selectors", e.limit, e.tenant)
}

func (e *samplesLimitError) Unwrap() error { return e.err }
