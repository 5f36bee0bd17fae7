package limits

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Limits are the per-tenant limits. The YAML key of each is its flag name
// after the first dot, in snake case.
type Limits struct {
	// Validation, in the distributor.
	MaxLabelNameLength      int            `yaml:"max_length_label_name"`
	MaxLabelValueLength     int            `yaml:"max_length_label_value"`
	MaxLabelNamesPerSeries  int            `yaml:"max_label_names_per_series"`
	MaxMetadataLength       int            `yaml:"max_metadata_length"`
	CreationGracePeriod     model.Duration `yaml:"creation_grace_period"`
	RejectOldSamples        bool           `yaml:"reject_old_samples"`
	RejectOldSamplesMaxAge  model.Duration `yaml:"reject_old_samples_max_age"`
	MaxExemplarLabelsLength int            `yaml:"max_exemplar_labels_length"`

	// Ingestion rate, in the distributor.
	IngestionRate      float64 `yaml:"ingestion_rate_limit"`
	IngestionBurstSize int     `yaml:"ingestion_burst_size"`

	// HA-pair deduplication, in the distributor (pkg/distributor/hatracker).
	AcceptHASamples bool   `yaml:"accept_ha_samples"`
	HAClusterLabel  string `yaml:"ha_cluster_label"`
	HAReplicaLabel  string `yaml:"ha_replica_label"`
	HAMaxClusters   int    `yaml:"ha_max_clusters"`

	// In-memory limits, in the ingester.
	MaxSeriesPerTenant       int            `yaml:"max_series_per_tenant"`
	MaxSeriesPerMetric       int            `yaml:"max_series_per_metric"`
	MaxGlobalSeriesPerTenant int            `yaml:"max_global_series_per_tenant"`
	MaxGlobalSeriesPerMetric int            `yaml:"max_global_series_per_metric"`
	MaxExemplars             int            `yaml:"max_exemplars"`
	MaxMetadataPerTenant     int            `yaml:"max_metadata_per_tenant"`
	MaxMetadataPerMetric     int            `yaml:"max_metadata_per_metric"`
	OutOfOrderTimeWindow     model.Duration `yaml:"out_of_order_time_window" federate:"max"`

	// Queries, in the querier and the ingester.
	MaxQueryLength        model.Duration `yaml:"max_query_length"`
	MaxSeriesPerQuery     int            `yaml:"max_series_per_query"`
	MaxChunksPerQuery     int            `yaml:"max_chunks_per_query"`
	MaxChunkBytesPerQuery int            `yaml:"max_chunk_bytes_per_query"`
	// MaxSamplesPerQuery bounds the samples one query's evaluation reads,
	// as Prometheus's query-cost accounting counts them (samplesRead): an
	// instant vector selector's sample once per step it is used at, a
	// range vector selector's samples once however many steps' windows
	// overlap them, and every step a subquery evaluates. It bounds work,
	// not memory: -querier.max-samples bounds the samples held at once.
	MaxSamplesPerQuery int `yaml:"max_samples_per_query"`
	// MaxSubquerySteps bounds the steps of one subquery (its range ÷ its
	// step), checked on the parsed expression before evaluation.
	MaxSubquerySteps int `yaml:"max_subquery_steps"`
	// MaxQuerySteps bounds the steps the engine evaluates for one query:
	// the query's own plus, for every subquery, its steps over the query's
	// time range widened by its range and those of the subqueries around
	// it. Each evaluated step costs memory whatever the series count.
	MaxQuerySteps int `yaml:"max_query_steps"`
	// MaxQueryExpressionSizeBytes bounds the length of a query expression,
	// checked before anything else is done with it.
	MaxQueryExpressionSizeBytes int `yaml:"max_query_expression_size_bytes"`
	// MaxQueryExpressionTokens and MaxQueryExpressionDepth bound an
	// expression's tokens (at least its node count) and its nesting,
	// counted by one pass of the PromQL lexer before the parser runs: the
	// parser's time grows with tokens × depth and cannot be cancelled.
	MaxQueryExpressionTokens int `yaml:"max_query_expression_tokens"`
	MaxQueryExpressionDepth  int `yaml:"max_query_expression_depth"`
	// MaxConcurrentQueries bounds the queries of one tenant running at once
	// in one querier.
	MaxConcurrentQueries int `yaml:"max_concurrent_queries_per_tenant"`
	// CardinalityAnalysisEnabled opens the tenant's cardinality API
	// (<prefix>/api/v1/cardinality/...), as in Mimir.
	CardinalityAnalysisEnabled bool `yaml:"cardinality_analysis_enabled"`
	// CardinalityAnalysisMaxSeries bounds the series one cardinality
	// request reads from each ingester; past it the request is refused.
	CardinalityAnalysisMaxSeries int `yaml:"cardinality_analysis_max_series"`
	// LabelValuesMaxCardinalityLabelNamesPerRequest bounds the label_names[]
	// of one cardinality/label_values request, as in Mimir.
	LabelValuesMaxCardinalityLabelNamesPerRequest int `yaml:"label_values_max_cardinality_label_names_per_request"`

	// OTLP ingest, in the distributor (pkg/distributor/otlp): how
	// OpenTelemetry metrics are translated, with Prometheus's translator.
	// OTelMetricSuffixesEnabled appends unit and type suffixes to metric
	// names (_seconds, _total), as Prometheus's default strategy does.
	OTelMetricSuffixesEnabled bool `yaml:"otel_metric_suffixes_enabled"`
	// OTelTranslationStrategy is how names that are not valid legacy
	// Prometheus names are written: [OTelUnderscoreEscaping] or
	// [OTelUTF8].
	OTelTranslationStrategy string `yaml:"otel_translation_strategy"`
	// PromoteResourceAttributes are resource attributes copied onto every
	// series of the resource, besides target_info.
	PromoteResourceAttributes StringList `yaml:"promote_resource_attributes"`
	// OTelDisableTargetInfo stops writing a target_info series per
	// resource.
	OTelDisableTargetInfo bool `yaml:"otel_disable_target_info"`
	// OTelAllowDeltaTemporality accepts delta sums and histograms as they
	// are (never converted to cumulative); without it they are refused.
	OTelAllowDeltaTemporality bool `yaml:"otel_allow_delta_temporality"`

	// MaxQueriersPerTenant shuffle-shards a tenant's queries over this many
	// of the queriers connected to a query frontend, so one tenant's flood
	// reaches only some; 0 means all of them.
	MaxQueriersPerTenant int `yaml:"max_queriers_per_tenant"`
	// MaxOutstandingPerTenant bounds the queries of one tenant admitted by
	// a query frontend and not yet answered (a query is one however many
	// split parts and shards it becomes); past it the frontend answers 429.
	MaxOutstandingPerTenant int `yaml:"max_outstanding_requests_per_tenant"`

	// Query frontend (pkg/frontend/queryrange).
	// AlignQueriesWithStep moves a range query's start and end down to
	// multiples of its step: it changes the answer, so tenants opt in.
	AlignQueriesWithStep bool `yaml:"align_queries_with_step"`
	// CacheUnalignedRequests caches range queries whose start or end is
	// not a multiple of the step (they are cached with the step offset in
	// the key, but a dashboard that never repeats its times gains nothing).
	CacheUnalignedRequests bool `yaml:"cache_unaligned_requests"`
	// MaxQueryParallelism bounds the sub-queries (split parts and shards)
	// of one query in flight at once.
	MaxQueryParallelism int `yaml:"max_query_parallelism"`
	// MaxCacheFreshness: results newer than this are never cached.
	MaxCacheFreshness model.Duration `yaml:"max_cache_freshness"`
	// QueryShardingTotalShards is how many shards a shardable aggregation
	// is split into; 0 or 1 disables sharding.
	QueryShardingTotalShards int `yaml:"query_sharding_total_shards"`

	// Long-term storage, in the retention service (package retention).
	RetentionPeriod model.Duration `yaml:"retention_period"`

	// Rule evaluation, in the ruler (package ruler).
	//
	// RulerQueryOffset shifts every rule query of the tenant back in time,
	// for data that arrives late (Prometheus's query_offset; Cortex's
	// evaluation delay). A group's own query_offset wins.
	RulerQueryOffset model.Duration `yaml:"query_offset"`
	// RulerAlertmanagerURL, when set, replaces -ruler.alertmanager-url for
	// the tenant (same syntax): tenants that bring their own Alertmanager.
	RulerAlertmanagerURL string `yaml:"ruler_alertmanager_url"`
	// RulerExternalLabels are added to the tenant's alerts (and their
	// ALERTS series' labels in notifications), as Prometheus's
	// global.external_labels.
	RulerExternalLabels map[string]string `yaml:"ruler_external_labels"`

	// Rule groups, checked by the rules API (package ruler/configapi)
	// when a group is written.
	RulerMaxRuleGroupsPerTenant int            `yaml:"max_rule_groups_per_tenant"`
	RulerMaxRulesPerRuleGroup   int            `yaml:"max_rules_per_rule_group"`
	RulerMinEvaluationInterval  model.Duration `yaml:"min_evaluation_interval"`
}

// Values of [Limits.OTelTranslationStrategy].
const (
	// OTelUnderscoreEscaping replaces every character outside
	// [a-zA-Z0-9_:] of metric and label names by an underscore, as
	// Prometheus's UnderscoreEscaping* strategies do.
	OTelUnderscoreEscaping = "underscore_escaping"
	// OTelUTF8 keeps names as OpenTelemetry sends them (UTF-8), as
	// Prometheus's NoUTF8EscapingWithSuffixes and NoTranslation
	// strategies do.
	OTelUTF8 = "utf8"
)

// StringList is a list of strings, a comma-separated flag and a YAML
// sequence.
type StringList []string

// String returns the list comma-separated.
func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set parses a comma-separated list; empty elements are dropped.
func (l *StringList) Set(s string) error {
	*l = nil
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			*l = append(*l, e)
		}
	}
	return nil
}

// RegisterFlags registers the defaults' flags.
func (l *Limits) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&l.MaxLabelNameLength, "validation.max-length-label-name", 1024, "Maximum length of a label name, in bytes.")
	f.IntVar(&l.MaxLabelValueLength, "validation.max-length-label-value", 2048, "Maximum length of a label value (including the metric name), in bytes.")
	f.IntVar(&l.MaxLabelNamesPerSeries, "validation.max-label-names-per-series", 30, "Maximum number of labels per series, the metric name included.")
	f.IntVar(&l.MaxMetadataLength, "validation.max-metadata-length", 1024, "Maximum length of a metadata field (metric family name, help, unit), in bytes.")
	l.CreationGracePeriod = model.Duration(10 * time.Minute)
	f.Var(&l.CreationGracePeriod, "validation.creation-grace-period", "How far in the future a sample's timestamp may be.")
	f.BoolVar(&l.RejectOldSamples, "validation.reject-old-samples", false, "Reject samples older than -validation.reject-old-samples-max-age.")
	l.RejectOldSamplesMaxAge = model.Duration(14 * 24 * time.Hour)
	f.Var(&l.RejectOldSamplesMaxAge, "validation.reject-old-samples-max-age", "Maximum age of a sample when -validation.reject-old-samples is set.")
	f.IntVar(&l.MaxExemplarLabelsLength, "validation.max-exemplar-labels-length", 128, "Maximum total length of an exemplar's label names and values, in UTF-8 characters (the OpenMetrics limit).")

	f.Float64Var(&l.IngestionRate, "distributor.ingestion-rate-limit", 25000, "Per-tenant ingestion rate limit, in samples per second.")
	f.IntVar(&l.IngestionBurstSize, "distributor.ingestion-burst-size", 50000, "Per-tenant ingestion burst size, in samples. A push larger than the burst is always refused. See also -distributor.ingestion-rate-limit-strategy.")

	// Cortex calls the first one -distributor.ha-tracker.enable-for-all-users;
	// ours follow the rule that a limit's YAML key is its flag after the
	// first dot.
	f.BoolVar(&l.AcceptHASamples, "distributor.accept-ha-samples", false, "Deduplicate pushes from HA Prometheus pairs: per cluster, accept only the elected replica's samples. Needs -distributor.ha-tracker.enable.")
	f.StringVar(&l.HAClusterLabel, "distributor.ha-cluster-label", "cluster", "Label naming the HA cluster a series comes from; it is kept.")
	f.StringVar(&l.HAReplicaLabel, "distributor.ha-replica-label", "__replica__", "Label naming the replica of the HA cluster a series comes from; it is removed before ingestion.")
	f.IntVar(&l.HAMaxClusters, "distributor.ha-max-clusters", 100, "Maximum HA clusters tracked per tenant; a push from a further cluster is refused with 400. 0 disables.")

	f.IntVar(&l.MaxSeriesPerTenant, "ingester.max-series-per-tenant", 5000000, "Maximum in-memory series per tenant in one ingester. 0 disables.")
	f.IntVar(&l.MaxSeriesPerMetric, "ingester.max-series-per-metric", 50000, "Maximum in-memory series per metric name per tenant in one ingester. 0 disables.")
	f.IntVar(&l.MaxGlobalSeriesPerTenant, "ingester.max-global-series-per-tenant", 0, "Maximum in-memory series per tenant across the cluster; each ingester enforces it × replication factor ÷ ingesters. 0 disables.")
	f.IntVar(&l.MaxGlobalSeriesPerMetric, "ingester.max-global-series-per-metric", 0, "Like -ingester.max-global-series-per-tenant, per metric name. 0 disables.")
	f.IntVar(&l.MaxExemplars, "ingester.max-exemplars", 100000, "Maximum exemplars kept in memory per tenant in one ingester (a circular buffer). 0 disables exemplar storage.")
	f.IntVar(&l.MaxMetadataPerTenant, "ingester.max-metadata-per-tenant", 8000, "Maximum metric metadata entries per tenant in one ingester. 0 disables.")
	f.IntVar(&l.MaxMetadataPerMetric, "ingester.max-metadata-per-metric", 10, "Maximum metadata entries per metric name per tenant in one ingester. 0 disables.")
	f.Var(&l.OutOfOrderTimeWindow, "ingester.out-of-order-time-window", "How far behind a series' newest sample an out-of-order sample is still accepted. 0 rejects every out-of-order sample, as Prometheus does by default.")

	f.Var(&l.MaxQueryLength, "querier.max-query-length", "Maximum time range of a query. 0 disables.")
	f.IntVar(&l.MaxSeriesPerQuery, "querier.max-series-per-query", 100000, "Maximum series one query may fetch from one ingester. 0 disables.")
	f.IntVar(&l.MaxChunksPerQuery, "querier.max-chunks-per-query", 2000000, "Maximum chunks one query may fetch from one ingester. 0 disables.")
	f.IntVar(&l.MaxChunkBytesPerQuery, "querier.max-chunk-bytes-per-query", 0, "Maximum chunk bytes one query may fetch from one ingester. 0 disables.")
	// 0: the samples-read count is a CPU and I/O budget, not a memory bound
	// (-querier.max-samples and the step limits bound memory), and the
	// engine that keeps it costs a range query about 60% more CPU.
	f.IntVar(&l.MaxSamplesPerQuery, "querier.max-samples-per-query", 0, "Maximum samples one query may read while it is evaluated, as Prometheus's query-cost accounting counts them: an instant selector's sample once per step (up over 1h at a 15s step reads 241 samples per series), a range selector's samples once however many steps' windows overlap (rate(x[5m]) over the same hour reads the 1h5m of samples, about 260 at a 15s scrape interval, not 241 × 20), and every step a subquery evaluates. Past it the API answers 422 cost_limit. 0 disables. -querier.max-samples bounds the samples held in memory at once, for every tenant.")
	// 11,000, as Prometheus bounds a range query's points per series and as
	// Cortex's integration tests set -querier.max-subquery-steps.
	f.IntVar(&l.MaxSubquerySteps, "querier.max-subquery-steps", 11000, "Maximum steps of one subquery of an expression, its range divided by its step (x[1d:1m] has 1,440); a query with a subquery over it is refused with 400 before evaluation. 0 disables. See also -querier.max-query-steps.")
	f.IntVar(&l.MaxQuerySteps, "querier.max-query-steps", 1000000, "Maximum steps the engine evaluates for one query, before evaluation: the query's own steps (1 for an instant query) plus, for every subquery, its steps over the query's time range widened by the subquery's range (the engine evaluates a subquery once over that span); each step costs memory whatever the series count (docs/security.md). Past it the query is refused with 400. 0 disables. See also -querier.max-subquery-steps.")
	f.IntVar(&l.MaxQueryExpressionSizeBytes, "querier.max-query-expression-size-bytes", 128<<10, "Maximum length of a query expression in bytes; a longer one is refused with 400 before it is parsed. 0 disables.")
	f.IntVar(&l.MaxQueryExpressionTokens, "querier.max-query-expression-tokens", 10000, "Maximum tokens of a query expression (at least its node count), counted by the PromQL lexer before the expression is parsed; past it the query is refused with 400. 0 disables. The parser's time grows with tokens × depth (-querier.max-query-expression-depth) and cannot be cancelled.")
	f.IntVar(&l.MaxQueryExpressionDepth, "querier.max-query-expression-depth", 500, "Maximum nesting of a query expression, counted before it is parsed: each level of parentheses or function call, and each operator chained at one level (1+1+1 nests 3 deep), adds one; past it the query is refused with 400. 0 disables. See also -querier.max-query-expression-tokens.")
	f.IntVar(&l.MaxConcurrentQueries, "querier.max-concurrent-queries-per-tenant", 0, "Maximum queries of one tenant running at once in one querier; more wait for a slot. 0 disables (only -querier.max-concurrent applies).")
	// 100: Cortex's default. It counts queries admitted at the query
	// frontend's HTTP handler, not the split parts and shards they queue.
	f.IntVar(&l.MaxOutstandingPerTenant, "frontend.max-outstanding-requests-per-tenant", 100, "Maximum queries of one tenant in flight in one query frontend (admitted and not yet answered, however many split parts and shards each becomes); more are refused with 429 naming the tenant and the limit; 0 disables. The queue then holds at most this many times -frontend.max-query-parallelism sub-requests of the tenant. See also -frontend.max-queriers-per-tenant.")
	f.IntVar(&l.MaxQueriersPerTenant, "frontend.max-queriers-per-tenant", 0, "Queriers, of those connected to a query frontend, that may run one tenant's queries (shuffle sharding: a flooding tenant reaches only its share). 0 means all.")

	// Suffixes on, underscore escaping: Prometheus's default OTLP
	// translation strategy (UnderscoreEscapingWithSuffixes), so the same
	// export gives the same series in Prometheus and in Hearth.
	f.BoolVar(&l.OTelMetricSuffixesEnabled, "distributor.otel-metric-suffixes-enabled", true, "Append unit and type suffixes to the names of metrics received over OTLP (http.server.duration in seconds becomes http_server_duration_seconds, a monotonic sum gets _total), as Prometheus's default OTLP translation strategy does. See also -distributor.otel-translation-strategy.")
	f.StringVar(&l.OTelTranslationStrategy, "distributor.otel-translation-strategy", OTelUnderscoreEscaping, "How OTLP metric and attribute names are written: underscore_escaping replaces every character outside [a-zA-Z0-9_:] by an underscore; utf8 keeps the names as sent. With -distributor.otel-metric-suffixes-enabled these are Prometheus's four translation strategies.")
	f.Var(&l.PromoteResourceAttributes, "distributor.promote-resource-attributes", "Comma-separated OTLP resource attributes copied as labels onto every series of the resource (e.g. service.instance.id,k8s.namespace.name); every resource attribute also goes to the target_info series unless -distributor.otel-disable-target-info.")
	f.BoolVar(&l.OTelDisableTargetInfo, "distributor.otel-disable-target-info", false, "Do not write a target_info series holding each OTLP resource's attributes.")
	f.BoolVar(&l.OTelAllowDeltaTemporality, "distributor.otel-allow-delta-temporality", false, "Accept OTLP sums and histograms with delta temporality, stored as they are (never converted to cumulative; rate() over them is meaningless, sum_over_time() is not). Without it they are refused with a message naming the metric.")
	f.Var(&l.RulerQueryOffset, "ruler.query-offset", "How far back in time the tenant's rule queries are evaluated, for data that arrives late; a rule group's own query_offset wins. YAML: limits.query_offset.")
	// Mimir's defaults (70 groups of 20 rules): each group is a goroutine
	// and a query per rule per interval in a ruler.
	f.IntVar(&l.RulerMaxRuleGroupsPerTenant, "ruler.max-rule-groups-per-tenant", 70, "Maximum rule groups per tenant, over every namespace; writing a further group is refused with 400. 0 disables.")
	f.IntVar(&l.RulerMaxRulesPerRuleGroup, "ruler.max-rules-per-rule-group", 20, "Maximum rules in one rule group; a larger group is refused with 400. 0 disables.")
	// 15s: the usual scrape interval; evaluating more often than data
	// arrives costs queries and gains nothing.
	l.RulerMinEvaluationInterval = model.Duration(15 * time.Second)
	f.Var(&l.RulerMinEvaluationInterval, "ruler.min-evaluation-interval", "Minimum evaluation interval a rule group may set (its interval field); a group asking for less is refused with 400. A group without an interval gets -ruler.evaluation-interval. 0 disables.")
	f.BoolVar(&l.CardinalityAnalysisEnabled, "querier.cardinality-analysis-enabled", false, "Serve the tenant's cardinality API (<prefix>/api/v1/cardinality/label_names, label_values, active_series), as Mimir does. See also -querier.cardinality-analysis-max-series.")
	// 100,000, as -querier.max-series-per-query: a cardinality request
	// holds the label sets of the series it reads (a few hundred bytes each).
	f.IntVar(&l.CardinalityAnalysisMaxSeries, "querier.cardinality-analysis-max-series", 100000, "Maximum series one cardinality API request may read from one ingester; past it the request is refused with 422 before anything is counted (narrow it with a selector). 0 disables.")
	// 100, as in Mimir.
	f.IntVar(&l.LabelValuesMaxCardinalityLabelNamesPerRequest, "querier.label-values-max-cardinality-label-names-per-request", 100, "Maximum label_names[] of one cardinality/label_values request; more are refused with 400. 0 disables.")

	f.BoolVar(&l.AlignQueriesWithStep, "frontend.align-queries-with-step", false, "Move a range query's start and end down to multiples of its step before splitting and caching. It changes the answer (points move to the step grid), so it is off unless a tenant opts in. See also -frontend.cache-unaligned-requests.")
	f.BoolVar(&l.CacheUnalignedRequests, "frontend.cache-unaligned-requests", false, "Cache range queries whose start or end is not a multiple of the step. Off: only step-aligned queries (Grafana aligns them) use the results cache.")
	f.IntVar(&l.MaxQueryParallelism, "frontend.max-query-parallelism", 14, "Maximum sub-queries (split parts and shards) of one query sent to queriers at once. 0 disables the bound.")
	l.MaxCacheFreshness = model.Duration(10 * time.Minute)
	f.Var(&l.MaxCacheFreshness, "frontend.max-cache-freshness", "Results newer than this are never cached (late samples may still change them); results inside -ingester.out-of-order-time-window are not cached either.")
	f.IntVar(&l.QueryShardingTotalShards, "frontend.query-sharding-total-shards", 16, "Shards a shardable aggregation (sum, count, min, max, avg, group, topk, bottomk over per-series functions of selectors) is split into, each selecting its series by a __query_shard__ matcher; the frontend merges them. 0 or 1 disables sharding for the tenant. See also -frontend.query-sharding-enabled.")

	f.Var(&l.RetentionPeriod, "store.retention-period", "How long a tenant's data is kept in the chunk store; older index buckets are dropped whole every -store.retention-interval, so up to one bucket (24h) more may remain. 0 keeps data forever.")
}

// Validate reports every invalid limit.
func (l *Limits) Validate() error {
	var errs []error
	nonNegative := map[string]int{
		"max_length_label_name":                                l.MaxLabelNameLength,
		"max_length_label_value":                               l.MaxLabelValueLength,
		"max_label_names_per_series":                           l.MaxLabelNamesPerSeries,
		"ingestion_burst_size":                                 l.IngestionBurstSize,
		"max_series_per_tenant":                                l.MaxSeriesPerTenant,
		"max_series_per_metric":                                l.MaxSeriesPerMetric,
		"max_global_series_per_tenant":                         l.MaxGlobalSeriesPerTenant,
		"max_global_series_per_metric":                         l.MaxGlobalSeriesPerMetric,
		"max_exemplars":                                        l.MaxExemplars,
		"max_series_per_query":                                 l.MaxSeriesPerQuery,
		"max_chunks_per_query":                                 l.MaxChunksPerQuery,
		"max_chunk_bytes_per_query":                            l.MaxChunkBytesPerQuery,
		"max_samples_per_query":                                l.MaxSamplesPerQuery,
		"max_subquery_steps":                                   l.MaxSubquerySteps,
		"max_query_steps":                                      l.MaxQuerySteps,
		"max_query_expression_size_bytes":                      l.MaxQueryExpressionSizeBytes,
		"max_query_expression_tokens":                          l.MaxQueryExpressionTokens,
		"max_query_expression_depth":                           l.MaxQueryExpressionDepth,
		"max_concurrent_queries_per_tenant":                    l.MaxConcurrentQueries,
		"cardinality_analysis_max_series":                      l.CardinalityAnalysisMaxSeries,
		"label_values_max_cardinality_label_names_per_request": l.LabelValuesMaxCardinalityLabelNamesPerRequest,
		"max_metadata_per_tenant":                              l.MaxMetadataPerTenant,
		"max_metadata_per_metric":                              l.MaxMetadataPerMetric,
		"max_metadata_length":                                  l.MaxMetadataLength,
		"max_exemplar_labels_length":                           l.MaxExemplarLabelsLength,
		"max_rule_groups_per_tenant":                           l.RulerMaxRuleGroupsPerTenant,
		"max_rules_per_rule_group":                             l.RulerMaxRulesPerRuleGroup,
		"max_queriers_per_tenant":                              l.MaxQueriersPerTenant,
		"max_outstanding_requests_per_tenant":                  l.MaxOutstandingPerTenant,
		"max_query_parallelism":                                l.MaxQueryParallelism,
		"query_sharding_total_shards":                          l.QueryShardingTotalShards,
		"ha_max_clusters":                                      l.HAMaxClusters,
	}
	for _, name := range slices.Sorted(maps.Keys(nonNegative)) {
		if v := nonNegative[name]; v < 0 {
			errs = append(errs, fmt.Errorf("limit %s is %d, must not be negative", name, v))
		}
	}
	if l.AcceptHASamples {
		if l.HAClusterLabel == "" || l.HAReplicaLabel == "" {
			errs = append(errs, errors.New("limits ha_cluster_label and ha_replica_label must not be empty when accept_ha_samples is set"))
		} else if l.HAClusterLabel == l.HAReplicaLabel {
			errs = append(errs, fmt.Errorf("limits ha_cluster_label and ha_replica_label are both %q, must differ", l.HAClusterLabel))
		}
	}
	switch l.OTelTranslationStrategy {
	case OTelUnderscoreEscaping, OTelUTF8:
	default:
		errs = append(errs, fmt.Errorf("limit otel_translation_strategy is %q, must be %q or %q", l.OTelTranslationStrategy, OTelUnderscoreEscaping, OTelUTF8))
	}
	if l.RulerQueryOffset < 0 {
		errs = append(errs, fmt.Errorf("limit query_offset is %s, must not be negative", l.RulerQueryOffset))
	}
	if l.MaxCacheFreshness < 0 {
		errs = append(errs, fmt.Errorf("limit max_cache_freshness is %s, must not be negative", l.MaxCacheFreshness))
	}
	if l.RetentionPeriod < 0 {
		errs = append(errs, fmt.Errorf("limit retention_period is %s, must not be negative", l.RetentionPeriod))
	}
	if l.RulerMinEvaluationInterval < 0 {
		errs = append(errs, fmt.Errorf("limit min_evaluation_interval is %s, must not be negative", time.Duration(l.RulerMinEvaluationInterval)))
	}
	if l.IngestionRate < 0 {
		errs = append(errs, fmt.Errorf("limit ingestion_rate_limit is %g, must not be negative", l.IngestionRate))
	}
	return errors.Join(errs...)
}

// Overrides answers per-tenant limits: a tenant's own when it has some,
// otherwise the defaults. It is safe for concurrent use; [Overrides.Set]
// swaps the per-tenant table atomically.
type Overrides struct {
	defaults Limits
	table    atomic.Pointer[overridesTable]
}

// overridesTable is one generation of per-tenant limits, with the combined
// limits of the federated IDs asked for since it was set (federated.go).
// [Overrides.Set] replaces the whole table, so a cached combination never
// outlives the overrides it was computed from.
type overridesTable struct {
	perTenant map[tenant.ID]*Limits
	federated federatedCache
}

// NewOverrides returns overrides with the given defaults and no per-tenant
// values.
func NewOverrides(defaults Limits) *Overrides {
	o := &Overrides{defaults: defaults}
	o.table.Store(&overridesTable{perTenant: map[tenant.ID]*Limits{}})
	return o
}

// Defaults returns the defaults.
func (o *Overrides) Defaults() Limits { return o.defaults }

// For returns the limits of t. The result must not be modified. For a
// federated ID ("a|b") it returns the most restrictive of each of its
// tenants' limits (federated.go), computed once per ID until the
// overrides change.
func (o *Overrides) For(t tenant.ID) *Limits {
	table := o.table.Load()
	if t.Federated() {
		return o.federated(table, t)
	}
	return o.forTenant(table, t)
}

func (o *Overrides) forTenant(table *overridesTable, t tenant.ID) *Limits {
	if l, ok := table.perTenant[t]; ok {
		return l
	}
	return &o.defaults
}

// Set replaces every per-tenant value at once, and forgets every combined
// limit of a federated ID.
func (o *Overrides) Set(perTenant map[tenant.ID]*Limits) {
	o.table.Store(&overridesTable{perTenant: perTenant})
}

// All returns the per-tenant table. It must not be modified.
func (o *Overrides) All() map[tenant.ID]*Limits { return o.table.Load().perTenant }
