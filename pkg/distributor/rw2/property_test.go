package rw2

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ingesterpb/ingesterpbtest"
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

// Issue #13 item 4 in remote-write 2.0: 2 bytes per empty series, or a
// series of 500,000 label references, are refused while decoding with
// the actual count, before the part over the limit is decoded.
func TestDecodeLimitsBoundAllocation(t *testing.T) {
	emptySeries := bytes.Repeat([]byte{0x2a, 0x00}, 500_000)
	refs := bytes.Repeat([]byte{0x00}, 1_000_000) // 500,000 pairs of ref 0
	oneSeries := protowire.AppendTag(nil, requestTimeseries, protowire.BytesType)
	inner := protowire.AppendTag(nil, seriesLabelsRefs, protowire.BytesType)
	inner = protowire.AppendBytes(inner, refs)
	oneSeries = protowire.AppendBytes(oneSeries, inner)
	tests := map[string]struct {
		data []byte
		lim  ingesterpb.DecodeLimits
		want ingesterpb.DecodeLimitError
	}{
		"500,000 empty series, limit 1,000": {data: emptySeries, lim: ingesterpb.DecodeLimits{MaxSeries: 1000}, want: ingesterpb.DecodeLimitError{What: "series", Actual: 500_000, Limit: 1000}},
		"500,000 labels, limit 1,000":       {data: oneSeries, lim: ingesterpb.DecodeLimits{MaxLabels: 1000}, want: ingesterpb.DecodeLimitError{What: "labels", Actual: 500_000, Limit: 1000}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			var err error
			runtime.GC()
			runtime.ReadMemStats(&before)
			d := &Decoder{Limits: tc.lim}
			err = d.Decode(tc.data, &ingesterpb.PushRequest{})
			runtime.ReadMemStats(&after)
			// Unlimited, the references alone took 21 MiB and the labels
			// 16 MiB more.
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
			var le *ingesterpb.DecodeLimitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, tc.want, *le)
		})
	}
}

func TestDecoderWithHugeScratchIsNotReused(t *testing.T) {
	d := &Decoder{}
	require.True(t, d.Reusable())
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for i := range 100_000 {
		req.Timeseries = append(req.Timeseries, writev2.TimeSeries{LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize(fmt.Sprint(i))}})
	}
	req.Symbols = st.Symbols()
	require.NoError(t, d.Decode(marshal(t, req), &ingesterpb.PushRequest{}))
	require.False(t, d.Reusable(), "100,000 symbols (1.6 MiB) must not stay in the pool")
}

// FuzzDecodeReused checks on any input that a pooled decoder and a reused
// message give what a fresh decoder and message give, and that limits
// either change nothing or refuse with a count over the limit.
func FuzzDecodeReused(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		f.Add(marshal(f, randomRequest(r)))
	}
	f.Add(bytes.Repeat([]byte{0x2a, 0x00}, 10))
	prior := marshal(f, testRequest(5, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		fresh := &ingesterpb.PushRequest{}
		freshErr := new(Decoder).Decode(data, fresh)
		d := &Decoder{}
		reused := &ingesterpb.PushRequest{}
		require.NoError(t, d.Decode(prior, reused))
		reusedErr := d.Decode(data, reused)
		require.Equal(t, freshErr == nil, reusedErr == nil)
		if freshErr == nil {
			ingesterpbtest.RequireSame(t, fresh, reused)
		}
		lim := ingesterpb.DecodeLimits{MaxSeries: 3, MaxLabels: 5}
		limited := &ingesterpb.PushRequest{}
		err := (&Decoder{Limits: lim}).Decode(data, limited)
		var le *ingesterpb.DecodeLimitError
		switch {
		case errors.As(err, &le):
			require.Greater(t, le.Actual, le.Limit, err.Error())
		case err == nil:
			require.NoError(t, freshErr)
			ingesterpbtest.RequireSame(t, fresh, limited)
		default:
			require.Error(t, freshErr)
		}
	})
}
