package rw2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// randomRequest returns a random remote-write 2.0 request: series with and
// without labels, samples, exemplars (with and without labels), metadata,
// and native histograms of every schema, custom buckets (NHCB, schema -53)
// included, integer and float; any part may be empty. No NaN, so results
// compare with ==.
func randomRequest(r *rand.Rand) *writev2.Request {
	st := writev2.NewSymbolTable()
	str := func(base string) string {
		switch r.IntN(4) {
		case 0:
			return ""
		case 1:
			return base
		}
		return fmt.Sprintf("%s_%d", base, r.IntN(100))
	}
	num := func() float64 {
		if r.IntN(4) == 0 {
			return math.Inf(1)
		}
		return r.NormFloat64() * 100
	}
	req := &writev2.Request{}
	for range r.IntN(6) {
		ts := writev2.TimeSeries{}
		for l := range r.IntN(4) {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(str(fmt.Sprintf("n%d", l))), st.Symbolize(str("v")))
		}
		for range r.IntN(3) {
			ts.Samples = append(ts.Samples, writev2.Sample{Value: num(), Timestamp: r.Int64N(1 << 42)})
		}
		for range r.IntN(3) {
			e := writev2.Exemplar{Value: num(), Timestamp: r.Int64N(1 << 42)}
			for range r.IntN(3) {
				e.LabelsRefs = append(e.LabelsRefs, st.Symbolize(str("trace_id")), st.Symbolize(str("abc")))
			}
			ts.Exemplars = append(ts.Exemplars, e)
		}
		for range r.IntN(3) {
			schemas := []int32{-53, -4, -1, 0, 3, 8}
			h := writev2.Histogram{Schema: schemas[r.IntN(len(schemas))], Sum: num(), Timestamp: r.Int64N(1 << 42), ResetHint: writev2.Histogram_ResetHint(r.IntN(4))}
			float := r.IntN(2) == 0
			if float {
				h.Count = &writev2.Histogram_CountFloat{CountFloat: num()}
				h.ZeroCount = &writev2.Histogram_ZeroCountFloat{ZeroCountFloat: num()}
			} else {
				h.Count = &writev2.Histogram_CountInt{CountInt: r.Uint64N(100)}
				if r.IntN(2) == 0 {
					h.ZeroCount = &writev2.Histogram_ZeroCountInt{ZeroCountInt: r.Uint64N(5)}
				}
			}
			for range r.IntN(3) {
				h.PositiveSpans = append(h.PositiveSpans, writev2.BucketSpan{Offset: int32(r.IntN(9) - 4), Length: uint32(r.IntN(3))})
				if h.Schema != -53 {
					h.NegativeSpans = append(h.NegativeSpans, writev2.BucketSpan{Offset: int32(r.IntN(9) - 4), Length: uint32(r.IntN(3))})
				}
			}
			for range r.IntN(4) {
				if float {
					h.PositiveCounts = append(h.PositiveCounts, num())
					h.NegativeCounts = append(h.NegativeCounts, num())
				} else {
					h.PositiveDeltas = append(h.PositiveDeltas, r.Int64N(20)-10)
					h.NegativeDeltas = append(h.NegativeDeltas, r.Int64N(20)-10)
				}
			}
			if h.Schema == -53 {
				h.NegativeDeltas, h.NegativeCounts = nil, nil
				for i := range r.IntN(3) + 1 {
					h.CustomValues = append(h.CustomValues, float64(i)+0.25)
				}
			}
			if r.IntN(3) == 0 {
				h.StartTimestamp = r.Int64N(1 << 40)
			}
			ts.Histograms = append(ts.Histograms, h)
		}
		if r.IntN(2) == 0 {
			ts.Metadata = writev2.Metadata{Type: writev2.Metadata_MetricType(r.IntN(8)), HelpRef: st.Symbolize(str("Help.")), UnitRef: st.Symbolize(str("seconds"))}
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	return req
}

// TestDecodeReusedEqualsFresh decodes a random sequence of requests with
// one pooled decoder into one reused message; each result must equal
// decoding the same bytes with a fresh decoder into a fresh message, and
// the reference decoding. Nothing of a request (a custom-bucket
// histogram's bounds, an exemplar, metadata) may show through in the next.
func TestDecodeReusedEqualsFresh(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 2))
	var d Decoder
	reused := &ingesterpb.PushRequest{}
	for i := range 3000 {
		data := marshal(t, randomRequest(r))
		want, err := reference(data)
		require.NoError(t, err)
		fresh := &ingesterpb.PushRequest{}
		require.NoError(t, new(Decoder).Decode(data, fresh))
		want.Source = fresh.Source
		require.Equal(t, want, fresh, "request %d: the decoder differs from the reference", i)
		require.NoError(t, d.Decode(data, reused))
		require.Equal(t, fresh, reused, "request %d: decoding into a reused message differs from a fresh one", i)
	}
}
