// Package resultpbtest makes random query results for tests of the
// encodings of results.
package resultpbtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// randomFloat favours the values a format gets wrong: NaN, ±Inf, -0, the
// smallest and largest, values JSON writes with an exponent.
func randomFloat(r *rand.Rand) float64 {
	special := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, 1e-7, 1e21, 123456789.123, math.SmallestNonzeroFloat64, math.MaxFloat64, -2.5}
	if r.IntN(3) == 0 {
		return special[r.IntN(len(special))]
	}
	return (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(30)-15))
}

func randomHistogram(r *rand.Rand) *histogram.FloatHistogram {
	h := &histogram.FloatHistogram{Schema: int32(r.IntN(6) - 1), Count: randomFloat(r), Sum: randomFloat(r)}
	if r.IntN(4) == 0 {
		h.Schema = histogram.CustomBucketsSchema
		h.CustomValues = []float64{0.1, 1, 10}
		h.PositiveSpans = []histogram.Span{{Offset: 0, Length: 3}}
		h.PositiveBuckets = []float64{r.Float64() * 10, 0, 5}
		return h
	}
	h.ZeroThreshold, h.ZeroCount = 0.001, float64(r.IntN(3))
	spans := func() ([]histogram.Span, []float64) {
		var (
			ss []histogram.Span
			bs []float64
		)
		for range r.IntN(3) {
			n := uint32(r.IntN(3) + 1)
			ss = append(ss, histogram.Span{Offset: int32(r.IntN(4) - 1), Length: n})
			for range n {
				bs = append(bs, float64(r.IntN(4)))
			}
		}
		return ss, bs
	}
	h.PositiveSpans, h.PositiveBuckets = spans()
	h.NegativeSpans, h.NegativeBuckets = spans()
	return h
}

func randomLabels(r *rand.Rand, validUTF8 bool) labels.Labels {
	values := []string{"a", "", "quote\"back\\slash", "<html>&", "ünï\u2028code", "\x00ctl\t\b\f", strings.Repeat("x", 200), "bad\xffutf8"}
	if validUTF8 {
		values = values[:len(values)-1]
	}
	b := labels.NewScratchBuilder(4)
	for i := range r.IntN(4) {
		b.Add(fmt.Sprintf("l%d", i), values[r.IntN(len(values))])
	}
	b.Sort()
	return b.Labels()
}

// RandomValue is a query result of any type, with native histograms of
// every kind of schema, odd floats (NaN, ±Inf, -0, the extremes) and odd
// label values (quotes, HTML, control characters, U+2028, and invalid
// UTF-8 unless validUTF8).
func RandomValue(r *rand.Rand, validUTF8 bool) parser.Value {
	t := func() int64 { return int64(r.IntN(2e12)) - 1e11 }
	switch r.IntN(5) {
	case 0:
		return promql.Scalar{T: t(), V: randomFloat(r)}
	case 1:
		return promql.String{T: t(), V: "s\"<" + strings.Repeat("é", r.IntN(3))}
	case 2:
		var v promql.Vector
		for range r.IntN(5) {
			s := promql.Sample{Metric: randomLabels(r, validUTF8), T: t()}
			if r.IntN(3) == 0 {
				s.H = randomHistogram(r)
			} else {
				s.F = randomFloat(r)
			}
			v = append(v, s)
		}
		return v
	}
	var m promql.Matrix
	for range r.IntN(5) {
		s := promql.Series{Metric: randomLabels(r, validUTF8)}
		ts := t()
		for range r.IntN(20) {
			ts += int64(r.IntN(60_000))
			if r.IntN(4) == 0 {
				s.Histograms = append(s.Histograms, promql.HPoint{T: ts, H: randomHistogram(r)})
			} else {
				s.Floats = append(s.Floats, promql.FPoint{T: ts, F: randomFloat(r)})
			}
		}
		m = append(m, s)
	}
	return m
}
