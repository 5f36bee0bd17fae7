package ingesterpb

import (
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"
)

// wireHistograms returns valid wire histograms of every schema (the
// exponential ones and custom buckets, -53), integer and float, with and
// without a stale-NaN sum, in every reset hint.
func wireHistograms() map[string]Histogram {
	out := map[string]Histogram{}
	schemas := []int32{histogram.CustomBucketsSchema}
	for s := int32(histogram.ExponentialSchemaMin); s <= histogram.ExponentialSchemaMax; s++ {
		schemas = append(schemas, s)
	}
	hints := []Histogram_ResetHint{Histogram_RESET_HINT_UNKNOWN, Histogram_RESET_HINT_YES, Histogram_RESET_HINT_NO, Histogram_RESET_HINT_GAUGE}
	for _, schema := range schemas {
		for _, isFloat := range []bool{false, true} {
			for _, sum := range []float64{12.5, math.Float64frombits(value.StaleNaN)} {
				for _, hint := range hints {
					h := Histogram{Schema: schema, Sum: sum, ResetHint: hint, TimestampMs: 1234}
					if schema == histogram.CustomBucketsSchema {
						h.PositiveSpans = []BucketSpan{{Offset: 0, Length: 2}, {Offset: 1, Length: 1}}
						h.CustomValues = []float64{0.1, 0.5, 1, 5}
					} else {
						h.ZeroThreshold = 0.001
						h.PositiveSpans = []BucketSpan{{Offset: -2, Length: 2}, {Offset: 3, Length: 1}}
						h.NegativeSpans = []BucketSpan{{Offset: 1, Length: 1}}
					}
					if isFloat {
						h.Count = &Histogram_CountFloat{CountFloat: 9}
						h.ZeroCount = &Histogram_ZeroCountFloat{ZeroCountFloat: 1}
						h.PositiveCounts = []float64{1, 2, 3}
						if h.NegativeSpans != nil {
							h.NegativeCounts = []float64{2}
						}
					} else {
						h.Count = &Histogram_CountInt{CountInt: 9}
						h.ZeroCount = &Histogram_ZeroCountInt{ZeroCountInt: 1}
						h.PositiveDeltas = []int64{1, 1, 1}
						if h.NegativeSpans != nil {
							h.NegativeDeltas = []int64{2}
						}
					}
					if schema == histogram.CustomBucketsSchema {
						// Custom buckets have no zero bucket.
						if isFloat {
							h.Count, h.ZeroCount = &Histogram_CountFloat{CountFloat: 6}, &Histogram_ZeroCountFloat{}
						} else {
							h.Count, h.ZeroCount = &Histogram_CountInt{CountInt: 6}, &Histogram_ZeroCountInt{}
						}
					}
					name := fmt.Sprintf("schema %d float %v sum %v hint %s", schema, isFloat, sum, hint)
					out[name] = h
				}
			}
		}
	}
	return out
}

func marshalHistogram(t *testing.T, h Histogram) []byte {
	t.Helper()
	b, err := h.Marshal()
	require.NoError(t, err)
	return b
}

func TestHistogramRoundTrip(t *testing.T) {
	for name, in := range wireHistograms() {
		t.Run(name, func(t *testing.T) {
			want := marshalHistogram(t, in)

			h, fh := in.ToHistogram()
			require.Equal(t, in.IsFloat(), fh != nil)
			require.Equal(t, !in.IsFloat(), h != nil)
			var back Histogram
			if fh != nil {
				require.NoError(t, fh.Validate())
				back = FromFloatHistogram(in.TimestampMs, fh)
			} else {
				require.NoError(t, h.Validate())
				back = FromHistogram(in.TimestampMs, h)
			}
			require.Equal(t, want, marshalHistogram(t, back), "ToHistogram")

			// The views give the same histogram.
			if in.IsFloat() {
				var v histogram.FloatHistogram
				in.ViewFloatHistogram(&v)
				require.True(t, v.Equals(fh))
				require.Equal(t, want, marshalHistogram(t, FromFloatHistogram(in.TimestampMs, &v)), "ViewFloatHistogram")
			} else {
				var v histogram.Histogram
				in.ViewHistogram(&v)
				require.True(t, v.Equals(h))
				require.Equal(t, want, marshalHistogram(t, FromHistogram(in.TimestampMs, &v)), "ViewHistogram")
			}
		})
	}
}

// TestToHistogramOwnsMemory: the head keeps converted histograms, so
// changing the message afterwards must not change them.
func TestToHistogramOwnsMemory(t *testing.T) {
	for name, in := range wireHistograms() {
		t.Run(name, func(t *testing.T) {
			h, fh := in.ToHistogram()
			var hCopy *histogram.Histogram
			var fhCopy *histogram.FloatHistogram
			if h != nil {
				hCopy = h.Copy()
			} else {
				fhCopy = fh.Copy()
			}
			for k := range in.PositiveSpans {
				in.PositiveSpans[k].Length += 7
			}
			for k := range in.PositiveDeltas {
				in.PositiveDeltas[k] += 7
			}
			for k := range in.PositiveCounts {
				in.PositiveCounts[k] += 7
			}
			for k := range in.CustomValues {
				in.CustomValues[k] += 7
			}
			if h != nil {
				require.True(t, hCopy.Equals(h))
			} else {
				require.True(t, fhCopy.Equals(fh))
			}
		})
	}
}

// TestViewHistogramAllocs: the distributor validates every histogram
// through the views; with warm span buffers they allocate nothing.
func TestViewHistogramAllocs(t *testing.T) {
	hs := wireHistograms()
	var (
		ih histogram.Histogram
		fh histogram.FloatHistogram
	)
	allocs := testing.AllocsPerRun(10, func() {
		for _, p := range hs {
			if p.IsFloat() {
				p.ViewFloatHistogram(&fh)
			} else {
				p.ViewHistogram(&ih)
			}
		}
	})
	require.Zero(t, allocs)
}

func TestViewHistogramOtherKind(t *testing.T) {
	// A view of the other kind reads counts of that kind only, as the
	// distributor's validation did before the views existed.
	p := Histogram{
		Count: &Histogram_CountFloat{CountFloat: 3}, ZeroCount: &Histogram_ZeroCountFloat{ZeroCountFloat: 1},
		PositiveSpans: []BucketSpan{{Length: 1}}, PositiveCounts: []float64{2},
	}
	var h histogram.Histogram
	p.ViewHistogram(&h)
	require.Zero(t, h.Count)
	require.Zero(t, h.ZeroCount)
	require.Empty(t, h.PositiveBuckets)

	q := Histogram{
		Count: &Histogram_CountInt{CountInt: 3}, ZeroCount: &Histogram_ZeroCountInt{ZeroCountInt: 1},
		PositiveSpans: []BucketSpan{{Length: 1}}, PositiveDeltas: []int64{2},
	}
	var fh histogram.FloatHistogram
	q.ViewFloatHistogram(&fh)
	require.Zero(t, fh.Count)
	require.Zero(t, fh.ZeroCount)
	require.Empty(t, fh.PositiveBuckets)
}

func TestCounterResetHintRoundTrip(t *testing.T) {
	tests := map[Histogram_ResetHint]histogram.CounterResetHint{
		Histogram_RESET_HINT_UNKNOWN: histogram.UnknownCounterReset,
		Histogram_RESET_HINT_YES:     histogram.CounterReset,
		Histogram_RESET_HINT_NO:      histogram.NotCounterReset,
		Histogram_RESET_HINT_GAUGE:   histogram.GaugeType,
	}
	for w, p := range tests {
		require.Equal(t, p, ToCounterResetHint(w))
		require.Equal(t, w, FromCounterResetHint(p))
	}
	require.Equal(t, histogram.UnknownCounterReset, ToCounterResetHint(42))
	require.Equal(t, Histogram_RESET_HINT_UNKNOWN, FromCounterResetHint(42))
}

func TestSpansRoundTrip(t *testing.T) {
	tests := map[string][]BucketSpan{
		"none": nil,
		"one":  {{Offset: -3, Length: 2}},
		"many": {{Offset: 0, Length: 1}, {Offset: 5, Length: 3}, {Offset: -1, Length: 0}},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, in, FromSpans(AppendSpans(nil, in)))
			require.Equal(t, in, FromSpans(AppendSpans(nil, in)))
		})
	}
}

// FuzzHistogramConvert: converting any decodable wire histogram does not
// panic, and a histogram with every field set, of one kind only and a known
// reset hint converts back to itself.
func FuzzHistogramConvert(f *testing.F) {
	for _, h := range wireHistograms() {
		b, err := h.Marshal()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in Histogram
		if in.Unmarshal(data) != nil {
			return
		}
		var (
			ih histogram.Histogram
			fv histogram.FloatHistogram
		)
		in.ViewHistogram(&ih)
		in.ViewFloatHistogram(&fv)
		h, fh := in.ToHistogram()
		if in.ZeroCount == nil || len(in.PositiveSpans) == 0 || len(in.NegativeSpans) == 0 {
			return // Absent fields come back as zero values or nil.
		}
		if _, ok := Histogram_ResetHint_name[int32(in.ResetHint)]; !ok {
			return // An unknown hint comes back as RESET_HINT_UNKNOWN.
		}
		want := marshalHistogram(t, in)
		switch {
		case fh != nil && len(in.PositiveDeltas)+len(in.NegativeDeltas) == 0:
			if _, ok := in.ZeroCount.(*Histogram_ZeroCountFloat); ok {
				require.Equal(t, want, marshalHistogram(t, FromFloatHistogram(in.TimestampMs, fh)))
			}
		case h != nil && in.Count != nil && len(in.PositiveCounts)+len(in.NegativeCounts) == 0:
			if _, ok := in.ZeroCount.(*Histogram_ZeroCountInt); ok {
				require.Equal(t, want, marshalHistogram(t, FromHistogram(in.TimestampMs, h)))
			}
		}
	})
}
