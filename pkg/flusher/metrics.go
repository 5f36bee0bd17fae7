package flusher

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	queueLength   prometheus.Gauge
	flushedBlocks *prometheus.CounterVec
	flushedSeries prometheus.Counter
	flushedChunks prometheus.Counter
	flushedBytes  prometheus.Counter
	tenantBytes   *prometheus.CounterVec
	failures      prometheus.Counter
	droppedSeries prometheus.Counter
	duration      prometheus.Histogram
	oldestUnflush prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, oldestAge func() float64) *metrics {
	f := promauto.With(reg)
	return &metrics{
		queueLength: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_ingester_flush_queue_length",
			Help: "Compacted blocks waiting to be written to the chunk store or being written (retries included).",
		}),
		flushedBlocks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_flushed_blocks_total",
			Help: "Compacted blocks entirely written to the chunk store, per tenant.",
		}, []string{"tenant"}),
		flushedSeries: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_ingester_flushed_series_total",
			Help: "Series of flushed blocks written to the chunk store (once per block).",
		}),
		flushedChunks: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_ingester_flushed_chunks_total",
			Help: "Chunks written to the chunk store.",
		}),
		flushedBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_ingester_flushed_bytes_total",
			Help: "Encoded chunk bytes written to the chunk store (index rows not included: see hearth_chunk_written_bytes_total).",
		}),
		tenantBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_tenant_flushed_bytes_total",
			Help: "Encoded chunk bytes written to the chunk store, per tenant: every replica's flush counts, and the store keeps identical replica chunks once (docs/usage.md).",
		}, []string{"tenant"}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_ingester_flush_failures_total",
			Help: "Failed attempts to flush a block (opening it, reading it or writing to the store); each is retried with backoff.",
		}),
		droppedSeries: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_ingester_flush_dropped_series_total",
			Help: "Series the chunk store refused as invalid (key too long, invalid chunk); they are skipped, not retried.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_ingester_flush_duration_seconds",
			Help:    "Time to flush one block, from the first attempt to the store confirming every row.",
			Buckets: prometheus.ExponentialBuckets(0.05, 4, 9), // 50ms to ~55m.
		}),
		oldestUnflush: f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hearth_ingester_oldest_unflushed_block_age_seconds",
			Help: "Seconds since the oldest block not yet in the chunk store was compacted (its ULID time), 0 when every block is flushed.",
		}, oldestAge),
	}
}
