package querier

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Conversions between Prometheus's model and the ingester protocol, for the
// tests' push path and fake ingester.

func toPairs(lset labels.Labels) []ingesterpb.LabelPair {
	pairs := make([]ingesterpb.LabelPair, 0, lset.Len())
	lset.Range(func(l labels.Label) {
		pairs = append(pairs, ingesterpb.LabelPair{Name: l.Name, Value: l.Value})
	})
	return pairs
}

func toProtoSpans(spans []histogram.Span) []ingesterpb.BucketSpan {
	out := make([]ingesterpb.BucketSpan, len(spans))
	for i, s := range spans {
		out[i] = ingesterpb.BucketSpan{Offset: s.Offset, Length: s.Length}
	}
	return out
}

func toProtoHistogram(t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) ingesterpb.Histogram {
	if h != nil {
		return ingesterpb.Histogram{
			Count:          &ingesterpb.Histogram_CountInt{CountInt: h.Count},
			Sum:            h.Sum,
			Schema:         h.Schema,
			ZeroThreshold:  h.ZeroThreshold,
			ZeroCount:      &ingesterpb.Histogram_ZeroCountInt{ZeroCountInt: h.ZeroCount},
			NegativeSpans:  toProtoSpans(h.NegativeSpans),
			NegativeDeltas: h.NegativeBuckets,
			PositiveSpans:  toProtoSpans(h.PositiveSpans),
			PositiveDeltas: h.PositiveBuckets,
			ResetHint:      ingesterpb.Histogram_ResetHint(h.CounterResetHint),
			TimestampMs:    t,
			CustomValues:   h.CustomValues,
		}
	}
	return ingesterpb.Histogram{
		Count:          &ingesterpb.Histogram_CountFloat{CountFloat: fh.Count},
		Sum:            fh.Sum,
		Schema:         fh.Schema,
		ZeroThreshold:  fh.ZeroThreshold,
		ZeroCount:      &ingesterpb.Histogram_ZeroCountFloat{ZeroCountFloat: fh.ZeroCount},
		NegativeSpans:  toProtoSpans(fh.NegativeSpans),
		NegativeCounts: fh.NegativeBuckets,
		PositiveSpans:  toProtoSpans(fh.PositiveSpans),
		PositiveCounts: fh.PositiveBuckets,
		ResetHint:      ingesterpb.Histogram_ResetHint(fh.CounterResetHint),
		TimestampMs:    t,
		CustomValues:   fh.CustomValues,
	}
}
