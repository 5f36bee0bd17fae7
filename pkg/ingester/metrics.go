package ingester

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// metrics are the ingester's own metrics. Per-tenant series are deleted
// when the tenant's DB is closed.
type metrics struct {
	memorySeries       *prometheus.GaugeVec
	memoryTenants      prometheus.Gauge
	memoryMetadata     *prometheus.GaugeVec
	ingestedSamples    *prometheus.CounterVec
	ingestedHistograms *prometheus.CounterVec
	ingestedExemplars  *prometheus.CounterVec
	appendFailures     *prometheus.CounterVec
	queriedSeries      prometheus.Histogram
	queriedChunks      prometheus.Histogram
	queryLimitHits     *prometheus.CounterVec
	walWriteFailures   *prometheus.CounterVec
	rejectedPushes     *prometheus.CounterVec
}

// Reasons of hearth_ingester_rejected_pushes_total.
const (
	reasonWALFailed = "wal_write_failed"
)

func newMetrics(reg prometheus.Registerer, inflightPushes func() float64) *metrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_ingester_inflight_push_requests",
		Help: "Push requests being handled. See -ingester.instance-limits.max-inflight-push-requests.",
	}, inflightPushes)
	return &metrics{
		memorySeries: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hearth_ingester_memory_series",
			Help: "Series in the ingester's in-memory heads.",
		}, []string{"tenant"}),
		memoryTenants: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_ingester_memory_tenants",
			Help: "Tenants with an open TSDB in the ingester.",
		}),
		memoryMetadata: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hearth_ingester_memory_metadata",
			Help: "Metric metadata entries kept in memory.",
		}, []string{"tenant"}),
		ingestedSamples: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_ingested_samples_total",
			Help: "Float samples appended to the heads.",
		}, []string{"tenant"}),
		ingestedHistograms: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_ingested_histograms_total",
			Help: "Native histogram samples appended to the heads.",
		}, []string{"tenant"}),
		ingestedExemplars: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_ingested_exemplars_total",
			Help: "Exemplars offered to the exemplar storage.",
		}, []string{"tenant"}),
		appendFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_append_failures_total",
			Help: "Samples, histograms, exemplars and metadata the ingester refused, by reason.",
		}, []string{"tenant", "reason"}),
		queriedSeries: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_ingester_queried_series",
			Help:    "Series returned by one QueryStream call.",
			Buckets: prometheus.ExponentialBuckets(10, 10, 6),
		}),
		queriedChunks: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_ingester_queried_chunks",
			Help:    "Chunks returned by one QueryStream call.",
			Buckets: prometheus.ExponentialBuckets(10, 10, 7),
		}),
		queryLimitHits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_query_limit_reached_total",
			Help: "QueryStream calls refused because they hit a per-query limit, by limit flag.",
		}, []string{"tenant", "limit"}),
		walWriteFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_wal_write_failures_total",
			Help: "Pushes that failed because a write to the tenant's WAL failed (disk full, I/O error); the tenant's writes are then refused until its TSDB is reopened.",
		}, []string{"tenant"}),
		rejectedPushes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_rejected_pushes_total",
			Help: "Pushes refused whole with a retryable error before anything was written, by reason.",
		}, []string{"reason"}),
	}
}

// deleteTenant drops every series of t.
func (m *metrics) deleteTenant(t tenant.ID) {
	l := prometheus.Labels{"tenant": string(t)}
	m.memorySeries.DeletePartialMatch(l)
	m.memoryMetadata.DeletePartialMatch(l)
	m.ingestedSamples.DeletePartialMatch(l)
	m.ingestedHistograms.DeletePartialMatch(l)
	m.ingestedExemplars.DeletePartialMatch(l)
	m.appendFailures.DeletePartialMatch(l)
	m.queryLimitHits.DeletePartialMatch(l)
	m.walWriteFailures.DeletePartialMatch(l)
}

// tsdbMetricNames lists the per-tenant TSDB metrics worth exposing and the
// name each is exposed under, with a tenant label. The others (about 70
// more) stay in the tenant's private registry: per tenant they would cost
// more series than they are worth.
var tsdbMetricNames = map[string]string{
	"prometheus_tsdb_head_chunks":                               "hearth_ingester_tsdb_head_chunks",
	"prometheus_tsdb_head_chunks_storage_size_bytes":            "hearth_ingester_tsdb_head_chunks_storage_size_bytes",
	"prometheus_tsdb_head_series_created_total":                 "hearth_ingester_tsdb_head_series_created_total",
	"prometheus_tsdb_head_series_removed_total":                 "hearth_ingester_tsdb_head_series_removed_total",
	"prometheus_tsdb_head_samples_appended_total":               "hearth_ingester_tsdb_head_samples_appended_total",
	"prometheus_tsdb_head_out_of_order_samples_appended_total":  "hearth_ingester_tsdb_head_out_of_order_samples_appended_total",
	"prometheus_tsdb_out_of_order_samples_total":                "hearth_ingester_tsdb_out_of_order_samples_total",
	"prometheus_tsdb_too_old_samples_total":                     "hearth_ingester_tsdb_too_old_samples_total",
	"prometheus_tsdb_out_of_bound_samples_total":                "hearth_ingester_tsdb_out_of_bound_samples_total",
	"prometheus_tsdb_head_gc_duration_seconds":                  "hearth_ingester_tsdb_head_gc_duration_seconds",
	"prometheus_tsdb_head_truncations_failed_total":             "hearth_ingester_tsdb_head_truncations_failed_total",
	"prometheus_tsdb_compactions_total":                         "hearth_ingester_tsdb_compactions_total",
	"prometheus_tsdb_compactions_failed_total":                  "hearth_ingester_tsdb_compactions_failed_total",
	"prometheus_tsdb_compaction_duration_seconds":               "hearth_ingester_tsdb_compaction_duration_seconds",
	"prometheus_tsdb_blocks_loaded":                             "hearth_ingester_tsdb_blocks_loaded",
	"prometheus_tsdb_storage_blocks_bytes":                      "hearth_ingester_tsdb_storage_blocks_bytes",
	"prometheus_tsdb_reloads_failures_total":                    "hearth_ingester_tsdb_reloads_failures_total",
	"prometheus_tsdb_checkpoint_creations_failed_total":         "hearth_ingester_tsdb_checkpoint_creations_failed_total",
	"prometheus_tsdb_data_replay_duration_seconds":              "hearth_ingester_tsdb_data_replay_duration_seconds",
	"prometheus_tsdb_mmap_chunk_corruptions_total":              "hearth_ingester_tsdb_mmap_chunk_corruptions_total",
	"prometheus_tsdb_wal_corruptions_total":                     "hearth_ingester_tsdb_wal_corruptions_total",
	"prometheus_tsdb_wal_writes_failed_total":                   "hearth_ingester_tsdb_wal_writes_failed_total",
	"prometheus_tsdb_wal_fsync_duration_seconds":                "hearth_ingester_tsdb_wal_fsync_duration_seconds",
	"prometheus_tsdb_wal_storage_size_bytes":                    "hearth_ingester_tsdb_wal_storage_size_bytes",
	"prometheus_tsdb_exemplar_max_exemplars":                    "hearth_ingester_tsdb_exemplar_max_exemplars",
	"prometheus_tsdb_exemplar_exemplars_appended_total":         "hearth_ingester_tsdb_exemplar_exemplars_appended_total",
	"prometheus_tsdb_exemplar_exemplars_in_storage":             "hearth_ingester_tsdb_exemplar_exemplars_in_storage",
	"prometheus_tsdb_exemplar_series_with_exemplars_in_storage": "hearth_ingester_tsdb_exemplar_series_with_exemplars_in_storage",
	"prometheus_tsdb_exemplar_out_of_order_exemplars_total":     "hearth_ingester_tsdb_exemplar_out_of_order_exemplars_total",
}

// tsdbCollector exposes the metrics of every open tenant's private TSDB
// registry (a shared registerer would panic on the second tenant), renamed
// per tsdbMetricNames and labelled with the tenant. A closed tenant's
// series disappear with it. It is an unchecked collector: the set of
// tenants is not known in advance.
type tsdbCollector struct {
	registries func() map[tenant.ID]*prometheus.Registry
}

func (c *tsdbCollector) Describe(chan<- *prometheus.Desc) {}

func (c *tsdbCollector) Collect(ch chan<- prometheus.Metric) {
	for t, reg := range c.registries() {
		mfs, err := reg.Gather()
		if err != nil {
			// Gather returns what it could alongside the error.
			ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("hearth_ingester_tsdb_gather_error", "A tenant TSDB registry could not be gathered.", nil, nil), err)
		}
		for _, mf := range mfs {
			name, ok := tsdbMetricNames[mf.GetName()]
			if !ok {
				continue
			}
			for _, m := range mf.GetMetric() {
				if pm := convertMetric(name, mf, m, t); pm != nil {
					ch <- pm
				}
			}
		}
	}
}

func convertMetric(name string, mf *dto.MetricFamily, m *dto.Metric, t tenant.ID) prometheus.Metric {
	names := make([]string, 0, len(m.GetLabel())+1)
	values := make([]string, 0, len(m.GetLabel())+1)
	for _, lp := range m.GetLabel() {
		names = append(names, lp.GetName())
		values = append(values, lp.GetValue())
	}
	names = append(names, "tenant")
	values = append(values, string(t))
	desc := prometheus.NewDesc(name, mf.GetHelp(), names, nil)

	var pm prometheus.Metric
	var err error
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		pm, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		pm, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		pm, err = prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		pm, err = prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		quantiles := make(map[float64]float64, len(s.GetQuantile()))
		for _, q := range s.GetQuantile() {
			quantiles[q.GetQuantile()] = q.GetValue()
		}
		pm, err = prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), quantiles, values...)
	default:
		return nil
	}
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return pm
}
