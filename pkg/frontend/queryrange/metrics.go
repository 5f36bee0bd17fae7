package queryrange

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/promql"
)

type metrics struct {
	splitQueries    *prometheus.CounterVec
	shardedQueries  *prometheus.CounterVec
	shards          *prometheus.CounterVec
	shardFallbacks  *prometheus.CounterVec
	cacheHits       *prometheus.CounterVec
	cacheMisses     *prometheus.CounterVec
	cacheFetchBytes *prometheus.CounterVec
	cacheStoreBytes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		splitQueries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_split_queries_total",
			Help: "Sub-queries range queries were split into by -frontend.split-queries-by-interval.",
		}, []string{"tenant"}),
		shardedQueries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_sharded_queries_total",
			Help: "Queries (or split parts of them) answered by sharding.",
		}, []string{"tenant"}),
		shards: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_sharded_queries_shards_total",
			Help: "Shard sub-queries sent to queriers.",
		}, []string{"tenant"}),
		shardFallbacks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_sharding_fallbacks_total",
			Help: "Sharded queries answered again unsharded, by reason (native_histograms: the frontend cannot merge histograms from their JSON form exactly).",
		}, []string{"tenant", "reason"}),
		cacheHits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_hits_total",
			Help: "Cacheable range queries (split parts) answered wholly from the results cache.",
		}, []string{"tenant"}),
		cacheMisses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_misses_total",
			Help: "Cacheable range queries (split parts) that needed at least one sub-range from a querier.",
		}, []string{"tenant"}),
		cacheFetchBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_fetched_bytes_total",
			Help: "Compressed bytes of results-cache entries read.",
		}, []string{"tenant"}),
		cacheStoreBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_stored_bytes_total",
			Help: "Compressed bytes of results-cache entries written.",
		}, []string{"tenant"}),
	}
}

// DeleteTenant removes the tenant's series of every metric, for when a
// tenant goes idle or is deleted.
func (m *Middlewares) DeleteTenant(t string) {
	for _, v := range []*prometheus.CounterVec{m.metrics.splitQueries, m.metrics.shardedQueries, m.metrics.shards, m.metrics.shardFallbacks, m.metrics.cacheHits, m.metrics.cacheMisses, m.metrics.cacheFetchBytes, m.metrics.cacheStoreBytes} {
		v.DeletePartialMatch(prometheus.Labels{"tenant": t})
	}
}

// Stats are one request's figures, for the slow-query log and the
// Server-Timing header. Safe for concurrent use.
type Stats struct {
	SplitQueries atomic.Int64
	Shards       atomic.Int64
	CacheHits    atomic.Int64
	CacheMisses  atomic.Int64
}

type statsKey struct{}

// WithStats returns ctx carrying new Stats, which the middlewares fill in.
// Put them in before calling the RoundTripper of [Middlewares.Wrap] to read
// them afterwards.
func WithStats(ctx context.Context) (context.Context, *Stats) {
	s := &Stats{}
	return context.WithValue(ctx, statsKey{}, s), s
}

// StatsFromContext returns the Stats ctx carries.
func StatsFromContext(ctx context.Context) (*Stats, bool) {
	s, ok := ctx.Value(statsKey{}).(*Stats)
	return s, ok
}

func statsOf(ctx context.Context) *Stats {
	if s, ok := StatsFromContext(ctx); ok {
		return s
	}
	return &Stats{}
}

// apiErrorFor maps an error of the frontend's own evaluation (merging
// shards) to Prometheus's status and error type.
func apiErrorFor(err error) *UpstreamError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
		tooMany  promql.ErrTooManySamples
	)
	switch {
	case errors.As(err, &canceled):
		return apiError(http.StatusServiceUnavailable, "canceled", err.Error())
	case errors.As(err, &timeout):
		return apiError(http.StatusServiceUnavailable, "timeout", err.Error())
	case errors.As(err, &tooMany):
		return apiError(http.StatusUnprocessableEntity, "execution", err.Error())
	case errors.As(err, &storage):
		return apiError(http.StatusInternalServerError, "internal", err.Error())
	}
	return apiError(http.StatusUnprocessableEntity, "execution", err.Error())
}
