package ingesterpb

import (
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
)

// Conversions between the wire Histogram and Prometheus's histogram.Histogram
// and histogram.FloatHistogram. A wire histogram is a float histogram when
// its count is a float (Histogram_CountFloat), an integer one otherwise; the
// zero count of the other kind is ignored, as Prometheus does.

// IsFloat reports whether m is a float histogram (its count is a float).
func (m *Histogram) IsFloat() bool {
	_, ok := m.Count.(*Histogram_CountFloat)
	return ok
}

// ToHistogram converts m into an integer histogram, or a float one when m's
// count is a float; the other result is nil. The results share no memory
// with m (spans, buckets and custom values are copied), so they may be kept,
// e.g. by the TSDB head, after m's buffer is reused. An empty span list
// converts to nil.
func (m *Histogram) ToHistogram() (*histogram.Histogram, *histogram.FloatHistogram) {
	// The views map every field and convert the spans into the slices
	// given (sized here, nil when empty); only what they alias is copied.
	pos, neg := spanBuf(len(m.PositiveSpans)), spanBuf(len(m.NegativeSpans))
	if m.IsFloat() {
		fh := &histogram.FloatHistogram{PositiveSpans: pos, NegativeSpans: neg}
		m.ViewFloatHistogram(fh)
		fh.PositiveBuckets, fh.NegativeBuckets = slices.Clone(fh.PositiveBuckets), slices.Clone(fh.NegativeBuckets)
		fh.CustomValues = slices.Clone(fh.CustomValues)
		return nil, fh
	}
	h := &histogram.Histogram{PositiveSpans: pos, NegativeSpans: neg}
	m.ViewHistogram(h)
	h.PositiveBuckets, h.NegativeBuckets = slices.Clone(h.PositiveBuckets), slices.Clone(h.NegativeBuckets)
	h.CustomValues = slices.Clone(h.CustomValues)
	return h, nil
}

// spanBuf is an empty span slice with room for n spans, nil when n is 0.
func spanBuf(n int) []histogram.Span {
	if n == 0 {
		return nil
	}
	return make([]histogram.Span, 0, n)
}

// ViewHistogram overwrites h with m read as an integer histogram (whatever
// m's kind: a float count or zero count reads as 0, float buckets are
// ignored), for read-only use such as validation. It allocates nothing once
// h's span slices are large enough: the spans are converted into
// h.PositiveSpans[:0] and h.NegativeSpans[:0], reused across calls. The
// bucket and custom-value slices of h alias m's: h must not be modified,
// nor kept once m's buffer is reused; copy them (or use [Histogram.ToHistogram]) to keep.
func (m *Histogram) ViewHistogram(h *histogram.Histogram) {
	var count, zc uint64
	if c, ok := m.Count.(*Histogram_CountInt); ok {
		count = c.CountInt
	}
	if z, ok := m.ZeroCount.(*Histogram_ZeroCountInt); ok {
		zc = z.ZeroCountInt
	}
	*h = histogram.Histogram{
		CounterResetHint: ToCounterResetHint(m.ResetHint),
		Schema:           m.Schema,
		ZeroThreshold:    m.ZeroThreshold,
		ZeroCount:        zc,
		Count:            count,
		Sum:              m.Sum,
		PositiveSpans:    AppendSpans(h.PositiveSpans[:0], m.PositiveSpans),
		NegativeSpans:    AppendSpans(h.NegativeSpans[:0], m.NegativeSpans),
		PositiveBuckets:  m.PositiveDeltas,
		NegativeBuckets:  m.NegativeDeltas,
		CustomValues:     m.CustomValues,
	}
}

// ViewFloatHistogram is [Histogram.ViewHistogram] for a float histogram:
// an integer count or zero count reads as 0, integer buckets are ignored.
// The same reuse and aliasing rules hold.
func (m *Histogram) ViewFloatHistogram(fh *histogram.FloatHistogram) {
	var count, zc float64
	if c, ok := m.Count.(*Histogram_CountFloat); ok {
		count = c.CountFloat
	}
	if z, ok := m.ZeroCount.(*Histogram_ZeroCountFloat); ok {
		zc = z.ZeroCountFloat
	}
	*fh = histogram.FloatHistogram{
		CounterResetHint: ToCounterResetHint(m.ResetHint),
		Schema:           m.Schema,
		ZeroThreshold:    m.ZeroThreshold,
		ZeroCount:        zc,
		Count:            count,
		Sum:              m.Sum,
		PositiveSpans:    AppendSpans(fh.PositiveSpans[:0], m.PositiveSpans),
		NegativeSpans:    AppendSpans(fh.NegativeSpans[:0], m.NegativeSpans),
		PositiveBuckets:  m.PositiveCounts,
		NegativeBuckets:  m.NegativeCounts,
		CustomValues:     m.CustomValues,
	}
}

// FromHistogram returns the wire form of h at timestamp ts (milliseconds).
// Its bucket and custom-value slices alias h's; spans are new. The wire
// message must not outlive a change to h.
func FromHistogram(ts int64, h *histogram.Histogram) Histogram {
	return Histogram{
		Count:          &Histogram_CountInt{CountInt: h.Count},
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		ZeroCount:      &Histogram_ZeroCountInt{ZeroCountInt: h.ZeroCount},
		NegativeSpans:  FromSpans(h.NegativeSpans),
		NegativeDeltas: h.NegativeBuckets,
		PositiveSpans:  FromSpans(h.PositiveSpans),
		PositiveDeltas: h.PositiveBuckets,
		ResetHint:      FromCounterResetHint(h.CounterResetHint),
		TimestampMs:    ts,
		CustomValues:   h.CustomValues,
	}
}

// FromFloatHistogram returns the wire form of fh at timestamp ts
// (milliseconds), with the same aliasing as [FromHistogram].
func FromFloatHistogram(ts int64, fh *histogram.FloatHistogram) Histogram {
	return Histogram{
		Count:          &Histogram_CountFloat{CountFloat: fh.Count},
		Sum:            fh.Sum,
		Schema:         fh.Schema,
		ZeroThreshold:  fh.ZeroThreshold,
		ZeroCount:      &Histogram_ZeroCountFloat{ZeroCountFloat: fh.ZeroCount},
		NegativeSpans:  FromSpans(fh.NegativeSpans),
		NegativeCounts: fh.NegativeBuckets,
		PositiveSpans:  FromSpans(fh.PositiveSpans),
		PositiveCounts: fh.PositiveBuckets,
		ResetHint:      FromCounterResetHint(fh.CounterResetHint),
		TimestampMs:    ts,
		CustomValues:   fh.CustomValues,
	}
}

// AppendSpans appends the conversion of src to dst and returns it; it
// allocates only when dst lacks room.
func AppendSpans(dst []histogram.Span, src []BucketSpan) []histogram.Span {
	for _, s := range src {
		dst = append(dst, histogram.Span{Offset: s.Offset, Length: s.Length})
	}
	return dst
}

// FromSpans converts spans to their wire form in a new slice, nil when in
// is empty.
func FromSpans(in []histogram.Span) []BucketSpan {
	if len(in) == 0 {
		return nil
	}
	out := make([]BucketSpan, len(in))
	for k, s := range in {
		out[k] = BucketSpan{Offset: s.Offset, Length: s.Length}
	}
	return out
}

// ToCounterResetHint maps a wire reset hint to Prometheus's; an unknown
// value is [histogram.UnknownCounterReset].
func ToCounterResetHint(h Histogram_ResetHint) histogram.CounterResetHint {
	switch h {
	case Histogram_RESET_HINT_YES:
		return histogram.CounterReset
	case Histogram_RESET_HINT_NO:
		return histogram.NotCounterReset
	case Histogram_RESET_HINT_GAUGE:
		return histogram.GaugeType
	}
	return histogram.UnknownCounterReset
}

// FromCounterResetHint maps Prometheus's reset hint to the wire's; an
// unknown value is Histogram_RESET_HINT_UNKNOWN.
func FromCounterResetHint(h histogram.CounterResetHint) Histogram_ResetHint {
	switch h {
	case histogram.CounterReset:
		return Histogram_RESET_HINT_YES
	case histogram.NotCounterReset:
		return Histogram_RESET_HINT_NO
	case histogram.GaugeType:
		return Histogram_RESET_HINT_GAUGE
	}
	return Histogram_RESET_HINT_UNKNOWN
}
