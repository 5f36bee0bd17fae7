// Package ingesterpb is the ingester's gRPC contract: the messages and the
// Ingester service generated from ingester.proto (gogo, `make proto`), the
// hand-written zero-copy decoders of the hot-path messages (zerocopy*.go,
// on package proto/wire), and every conversion between these messages and
// Prometheus's types: labels, matchers, exemplars, metadata and chunk
// encodings (convert.go), histograms, spans and reset hints
// (convert_histogram.go). Each conversion's doc says which results alias
// the input's strings or slices.
//
// PushRequest's wire format is remote-write 1.0's prometheus.WriteRequest,
// so the distributor decodes a 1.0 body straight into it
// ([PushRequest.UnmarshalZeroCopyLimits]) and forwards 2.0 requests in the
// same shape. Decoded strings alias the input buffer: the caller keeps it
// alive, and unchanged, for as long as the message is used.
package ingesterpb
