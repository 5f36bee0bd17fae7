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

func fromProtoSpans(spans []ingesterpb.BucketSpan) []histogram.Span {
	if len(spans) == 0 {
		return nil
	}
	out := make([]histogram.Span, len(spans))
	for i, s := range spans {
		out[i] = histogram.Span{Offset: s.Offset, Length: s.Length}
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

// fromProtoHistogram returns exactly one of an integer or a float histogram.
func fromProtoHistogram(p *ingesterpb.Histogram) (*histogram.Histogram, *histogram.FloatHistogram) {
	if c, ok := p.Count.(*ingesterpb.Histogram_CountInt); ok {
		var zero uint64
		if z, ok := p.ZeroCount.(*ingesterpb.Histogram_ZeroCountInt); ok {
			zero = z.ZeroCountInt
		}
		return &histogram.Histogram{
			CounterResetHint: histogram.CounterResetHint(p.ResetHint),
			Schema:           p.Schema,
			ZeroThreshold:    p.ZeroThreshold,
			ZeroCount:        zero,
			Count:            c.CountInt,
			Sum:              p.Sum,
			PositiveSpans:    fromProtoSpans(p.PositiveSpans),
			NegativeSpans:    fromProtoSpans(p.NegativeSpans),
			PositiveBuckets:  p.PositiveDeltas,
			NegativeBuckets:  p.NegativeDeltas,
			CustomValues:     p.CustomValues,
		}, nil
	}
	var count, zero float64
	if c, ok := p.Count.(*ingesterpb.Histogram_CountFloat); ok {
		count = c.CountFloat
	}
	if z, ok := p.ZeroCount.(*ingesterpb.Histogram_ZeroCountFloat); ok {
		zero = z.ZeroCountFloat
	}
	return nil, &histogram.FloatHistogram{
		CounterResetHint: histogram.CounterResetHint(p.ResetHint),
		Schema:           p.Schema,
		ZeroThreshold:    p.ZeroThreshold,
		ZeroCount:        zero,
		Count:            count,
		Sum:              p.Sum,
		PositiveSpans:    fromProtoSpans(p.PositiveSpans),
		NegativeSpans:    fromProtoSpans(p.NegativeSpans),
		PositiveBuckets:  p.PositiveCounts,
		NegativeBuckets:  p.NegativeCounts,
		CustomValues:     p.CustomValues,
	}
}

func fromProtoMatchers(pms []ingesterpb.LabelMatcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(pms))
	for _, pm := range pms {
		var t labels.MatchType
		switch pm.Type {
		case ingesterpb.LabelMatcher_TYPE_EQ:
			t = labels.MatchEqual
		case ingesterpb.LabelMatcher_TYPE_NEQ:
			t = labels.MatchNotEqual
		case ingesterpb.LabelMatcher_TYPE_RE:
			t = labels.MatchRegexp
		case ingesterpb.LabelMatcher_TYPE_NRE:
			t = labels.MatchNotRegexp
		}
		m, err := labels.NewMatcher(t, pm.Name, pm.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
