// Package otlp receives OpenTelemetry metrics over OTLP/HTTP
// (POST /otlp/v1/metrics, Mimir's path, and /api/v1/otlp/v1/metrics,
// Prometheus's): an ExportMetricsServiceRequest as protobuf
// (application/x-protobuf) or JSON (application/json), gzip-compressed or
// not.
//
// [Handler] reads the body within the distributor's size limit (checked
// on the compressed and on the decompressed bytes before either is
// decoded; gzip readers are pooled), decodes it with the OpenTelemetry Collector's pdata, and looks
// at the result before translating it ([plan]): metrics Hearth refuses
// (delta temporality without the tenant's otel_allow_delta_temporality, an
// unset temporality, an unknown type) are removed and counted in
// hearth_discarded_samples_total, and a request that would translate to
// more series, labels or label bytes than a remote-write request may hold
// is refused with 413 before any of it is built. The same pass checks
// whether every string the translator makes labels of is ASCII; when it
// is, the push request says so (remotewrite.Request.ASCIILabels) and the
// distributor's validation skips its UTF-8 checks of the labels.
//
// Translation is Prometheus's own: the converter of Prometheus's OTLP
// receiver (otlptranslator/prometheusremotewrite) with the tenant's
// settings from pkg/limits (metric suffixes, underscore escaping or UTF-8
// names, promoted resource attributes, target_info), writing into an
// [appender] that builds the distributor's push request. Exponential
// histograms become native histograms, summaries and classic histograms
// their series, exemplars exemplars and metric descriptions metadata.
// The request then takes the remote-write path: the same validation,
// limits, hooks and discard reasons.
//
// Answers follow the OTLP/HTTP specification: 200 with an
// ExportMetricsServiceResponse (its partial_success says how many points
// were refused, and why) when anything was written; otherwise a
// google.rpc.Status in the request's encoding, with 400 for a malformed
// body or data that can never be written, 413 and 415 as remote write,
// 429 for a rate limit and 503 for every failure a retry may cure, since
// OTLP exporters retry only 429, 502, 503 and 504.
package otlp
