package distributor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	receivedSamples         *prometheus.CounterVec
	receivedHistograms      *prometheus.CounterVec
	receivedExemplars       *prometheus.CounterVec
	receivedMetadata        *prometheus.CounterVec
	receivedBytes           *prometheus.CounterVec
	discardedSamples        *prometheus.CounterVec
	discardedMetadata       *prometheus.CounterVec
	sortedLabels            *prometheus.CounterVec
	requests                *prometheus.CounterVec
	requestDuration         prometheus.Histogram
	inflight                prometheus.Gauge
	inflightBytes           prometheus.Gauge
	instanceLimitRejections *prometheus.CounterVec
	ingesterDuration        *prometheus.HistogramVec
	ingesterFailures        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		receivedSamples: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_received_samples_total",
			Help: "Float samples received, before validation.",
		}, []string{"tenant"}),
		receivedHistograms: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_received_histograms_total",
			Help: "Native histogram samples received, before validation.",
		}, []string{"tenant"}),
		receivedExemplars: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_received_exemplars_total",
			Help: "Exemplars received, before validation.",
		}, []string{"tenant"}),
		receivedMetadata: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_received_metadata_total",
			Help: "Metric metadata entries received, before validation.",
		}, []string{"tenant"}),
		receivedBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_received_bytes_total",
			Help: "Bytes of push request bodies received, decompressed (the protobuf's size), before validation.",
		}, []string{"tenant"}),
		discardedSamples: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_discarded_samples_total",
			Help: "Samples, histograms and exemplars refused, by reason: by validation in the distributor, or by a quorum of ingesters.",
		}, []string{"tenant", "reason"}),
		discardedMetadata: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_discarded_metadata_total",
			Help: "Metric metadata entries refused by validation, by reason.",
		}, []string{"tenant", "reason"}),
		sortedLabels: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_sorted_label_series_total",
			Help: "Series received with label names out of order, which the distributor sorted (the remote-write specs ask senders to sort; Prometheus's receiver sorts too).",
		}, []string{"tenant"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_requests_total",
			Help: "Push requests answered, by HTTP status code.",
		}, []string{"code"}),
		requestDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:                        "hearth_distributor_request_duration_seconds",
			Help:                        "Time to answer a push request, body read and decode included.",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_distributor_inflight_requests",
			Help: "Push requests being handled.",
		}),
		inflightBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_distributor_inflight_push_request_bytes",
			Help: "Compressed bytes of the push requests being handled, counted when -distributor.instance-limits.max-inflight-push-request-bytes is set.",
		}),
		instanceLimitRejections: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_instance_limit_rejections_total",
			Help: "Push requests refused with 503 because this distributor was at an instance limit, by limit.",
		}, []string{"limit"}),
		ingesterDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "hearth_distributor_ingester_push_duration_seconds",
			Help:                        "Duration of Push calls to ingesters, detached ones included, by outcome (ok, soft_error, error).",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}, []string{"outcome"}),
		ingesterFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_ingester_push_failures_total",
			Help: "Push calls to ingesters that failed (transport errors and retryable ingester errors), by ingester address.",
		}, []string{"ingester"}),
	}
}
