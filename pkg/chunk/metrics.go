package chunk

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	writtenRows      *prometheus.CounterVec
	writtenMutations *prometheus.CounterVec
	writtenBytes     *prometheus.CounterVec
	dedupeSkipped    prometheus.Counter
	readSeries       *prometheus.CounterVec
	readChunkBytes   *prometheus.CounterVec
	operationSeconds *prometheus.HistogramVec
	backendSeconds   *prometheus.HistogramVec
	corruptRows      prometheus.Counter
	bucketsDropped   prometheus.Counter
	regexPushdowns   prometheus.Counter

	cacheHits      *prometheus.CounterVec
	cacheMisses    *prometheus.CounterVec
	cacheEvictions *prometheus.CounterVec
	cacheBytes     *prometheus.GaugeVec
	cacheEntries   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		writtenRows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_written_rows_total",
			Help: "Rows mutated by flushes, per tenant.",
		}, []string{"tenant"}),
		writtenMutations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_written_mutations_total",
			Help: "Cells set by flushes, per tenant.",
		}, []string{"tenant"}),
		writtenBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_written_bytes_total",
			Help: "Bytes of keys, columns and values sent by flushes, per tenant.",
		}, []string{"tenant"}),
		dedupeSkipped: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_chunk_write_dedupe_skipped_series_total",
			Help: "Series whose index rows were not written again because the write-dedupe cache knew them in that bucket.",
		}),
		readSeries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_read_series_total",
			Help: "Series returned by Select, per tenant.",
		}, []string{"tenant"}),
		readChunkBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_read_chunk_bytes_total",
			Help: "Chunk bytes returned by Select, per tenant.",
		}, []string{"tenant"}),
		operationSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hearth_chunk_operation_duration_seconds",
			Help:    "Latency of store operations (write, select, label_names, label_values, delete).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"operation"}),
		backendSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hearth_chunk_backend_request_duration_seconds",
			Help:    "Latency of backend calls (apply, read, drop), by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"operation", "status"}),
		corruptRows: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_chunk_corrupt_rows_total",
			Help: "Rows or cells that could not be decoded; the read that met them failed.",
		}),
		bucketsDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_chunk_dropped_buckets_total",
			Help: "Index buckets dropped by retention.",
		}),
		regexPushdowns: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_chunk_regex_pushdowns_total",
			Help: "Regex matchers evaluated by the backend as a row-key filter.",
		}),
		cacheHits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_cache_hits_total",
			Help: "Cache lookups that found an entry, by cache (index, chunk).",
		}, []string{"cache"}),
		cacheMisses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_cache_misses_total",
			Help: "Cache lookups that found nothing, by cache (index, chunk).",
		}, []string{"cache"}),
		cacheEvictions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_cache_evictions_total",
			Help: "Entries evicted to stay under the cache's size, by cache.",
		}, []string{"cache"}),
		cacheBytes: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hearth_chunk_cache_bytes",
			Help: "Approximate memory held by the cache, by cache.",
		}, []string{"cache"}),
		cacheEntries: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hearth_chunk_cache_entries",
			Help: "Entries in the cache, by cache.",
		}, []string{"cache"}),
	}
}

func (m *metrics) deleteTenant(tenant string) {
	m.writtenRows.DeleteLabelValues(tenant)
	m.writtenMutations.DeleteLabelValues(tenant)
	m.writtenBytes.DeleteLabelValues(tenant)
	m.readSeries.DeleteLabelValues(tenant)
	m.readChunkBytes.DeleteLabelValues(tenant)
}
