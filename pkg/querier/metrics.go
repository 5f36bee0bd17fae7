package querier

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	ingesterRequestDuration *prometheus.HistogramVec
	fetchedSeries           prometheus.Counter
	fetchedChunks           prometheus.Counter
	fetchedChunkBytes       prometheus.Counter

	storeRequestDuration   *prometheus.HistogramVec
	storeFetchedSeries     prometheus.Counter
	storeFetchedChunks     prometheus.Counter
	storeFetchedChunkBytes prometheus.Counter
	queriesTooLong         prometheus.Counter
	queriesRejected        *prometheus.CounterVec
	// Usage, per tenant (docs/usage.md).
	tenantQueries     *prometheus.CounterVec
	tenantSamplesRead *prometheus.CounterVec
	ruleEvaluations   *prometheus.CounterVec

	reg prometheus.Registerer // For the HTTP API's own metrics.
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		reg: reg,
		queriesRejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_querier_queries_rejected_total",
			Help: "Queries stopped by a per-tenant query limit, by reason: the limit's YAML key (max_samples_per_query, max_subquery_steps, max_query_steps, max_query_expression_size_bytes, max_query_expression_tokens, max_query_expression_depth).",
		}, []string{"reason"}),
		ingesterRequestDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "hearth_querier_ingester_request_duration_seconds",
			Help:                        "Time taken by one call from the querier to one ingester, by operation and gRPC status code.",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}, []string{"operation", "status_code"}),
		fetchedSeries: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_fetched_series_total",
			Help: "Series fetched from ingesters, after merging replicas.",
		}),
		fetchedChunks: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_fetched_chunks_total",
			Help: "Chunks fetched from ingesters, replicas included.",
		}),
		fetchedChunkBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_fetched_chunk_bytes_total",
			Help: "Bytes of chunks fetched from ingesters, replicas included.",
		}),
		storeRequestDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "hearth_querier_store_request_duration_seconds",
			Help:                        "Time taken by one read of the chunk store, by operation (select, label_names, label_values) and status (success, error, canceled).",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}, []string{"operation", "status"}),
		storeFetchedSeries: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_store_fetched_series_total",
			Help: "Series fetched from the chunk store.",
		}),
		storeFetchedChunks: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_store_fetched_chunks_total",
			Help: "Chunks fetched from the chunk store.",
		}),
		storeFetchedChunkBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_store_fetched_chunk_bytes_total",
			Help: "Bytes of chunks fetched from the chunk store.",
		}),
		tenantQueries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_querier_tenant_queries_total",
			Help: "Requests that read a tenant's samples and were admitted by its limits, by tenant and API (query, query_range, remote_read, federate).",
		}, []string{"tenant", "api"}),
		tenantSamplesRead: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_querier_tenant_samples_read_total",
			Help: "Samples read for a tenant's queries: for PromQL queries the engine's count of samples it processed (Prometheus's query stats totalQueryableSamples), for remote read and federation the samples answered (streamed remote read counts whole chunks).",
		}, []string{"tenant"}),
		ruleEvaluations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_querier_tenant_rule_evaluations_total",
			Help: "Rules of a tenant evaluated by the ruler on this process's querier engine, counted by the ruler through Querier.CountRuleEvaluation.",
		}, []string{"tenant"}),
		queriesTooLong: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_querier_queries_too_long_total",
			Help: "Queries refused because their time range exceeds -querier.max-query-length.",
		}),
	}
}
