package ingesterpb

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/ingesterpb/ingesterpbtest"
)

// The reuse property of every zero-copy decoder: decoding a random
// sequence of messages into one reused message gives, for each message,
// exactly what decoding it into a fresh message gives (nil and empty
// slices told apart), and that equals gogo's decoding. Nothing one message
// leaves behind (a custom-bucket histogram's bounds, an exemplar, a
// metadata entry) may show through in the next.

// RandomPushRequest returns a random request: series with and without
// labels, samples, exemplars (with and without labels) and native
// histograms of every schema (custom buckets included, integer and float),
// and metadata; any part may be empty. Values are never NaN, so results
// compare with ==.
func randomPushRequest(r *rand.Rand) *PushRequest {
	req := &PushRequest{Source: Source(r.IntN(2))}
	for range r.IntN(6) {
		ts := TimeSeries{}
		for l := range r.IntN(5) {
			ts.Labels = append(ts.Labels, LabelPair{Name: randString(r, fmt.Sprintf("n%d", l)), Value: randString(r, "v")})
		}
		for range r.IntN(4) {
			ts.Samples = append(ts.Samples, Sample{Value: randFloat(r), TimestampMs: r.Int64N(1 << 42)})
		}
		for range r.IntN(3) {
			e := Exemplar{Value: randFloat(r), TimestampMs: r.Int64N(1 << 42)}
			for range r.IntN(3) {
				e.Labels = append(e.Labels, LabelPair{Name: randString(r, "trace_id"), Value: randString(r, "abc")})
			}
			ts.Exemplars = append(ts.Exemplars, e)
		}
		for range r.IntN(4) {
			ts.Histograms = append(ts.Histograms, randomHistogram(r))
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	for range r.IntN(3) {
		req.Metadata = append(req.Metadata, MetricMetadata{
			Type:             MetricMetadata_MetricType(r.IntN(8)),
			MetricFamilyName: randString(r, "family"),
			Help:             randString(r, "Help text."),
			Unit:             randString(r, "seconds"),
		})
	}
	return req
}

// histogramSchemas are the schemas the generator draws from: every
// exponential schema, custom buckets (NHCB) and two invalid ones, which the
// decoder must carry through unchanged.
var histogramSchemas = []int32{-53, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, -9, 9}

func randomHistogram(r *rand.Rand) Histogram {
	h := Histogram{
		Schema:      histogramSchemas[r.IntN(len(histogramSchemas))],
		Sum:         randFloat(r),
		ResetHint:   Histogram_ResetHint(r.IntN(4)),
		TimestampMs: r.Int64N(1 << 42),
	}
	if h.Schema != -53 && r.IntN(2) == 0 {
		h.ZeroThreshold = randFloat(r)
	}
	spans := func() []BucketSpan {
		var s []BucketSpan
		for range r.IntN(3) {
			s = append(s, BucketSpan{Offset: int32(r.IntN(20) - 10), Length: uint32(r.IntN(4))})
		}
		return s
	}
	float := r.IntN(2) == 0
	switch {
	case float:
		h.Count = &Histogram_CountFloat{CountFloat: randFloat(r)}
		if r.IntN(2) == 0 {
			h.ZeroCount = &Histogram_ZeroCountFloat{ZeroCountFloat: randFloat(r)}
		}
	case r.IntN(8) != 0: // sometimes no count at all
		h.Count = &Histogram_CountInt{CountInt: r.Uint64N(1000)}
		if r.IntN(2) == 0 {
			h.ZeroCount = &Histogram_ZeroCountInt{ZeroCountInt: r.Uint64N(10)}
		}
	}
	h.PositiveSpans = spans()
	if h.Schema != -53 {
		h.NegativeSpans = spans()
	}
	for range r.IntN(5) {
		if float {
			h.PositiveCounts = append(h.PositiveCounts, randFloat(r))
		} else {
			h.PositiveDeltas = append(h.PositiveDeltas, r.Int64N(200)-100)
		}
	}
	for range r.IntN(3) {
		if h.Schema == -53 {
			break
		}
		if float {
			h.NegativeCounts = append(h.NegativeCounts, randFloat(r))
		} else {
			h.NegativeDeltas = append(h.NegativeDeltas, r.Int64N(200)-100)
		}
	}
	if h.Schema == -53 {
		for i := range r.IntN(4) + 1 {
			h.CustomValues = append(h.CustomValues, float64(i)+0.5)
		}
		if r.IntN(3) == 0 {
			h.CustomValues = append(h.CustomValues, math.Inf(1))
		}
	}
	return h
}

func randString(r *rand.Rand, base string) string {
	switch r.IntN(4) {
	case 0:
		return ""
	case 1:
		return base
	}
	return fmt.Sprintf("%s_%d", base, r.IntN(1000))
}

func randFloat(r *rand.Rand) float64 {
	switch r.IntN(5) {
	case 0:
		return 0
	case 1:
		return math.Inf(1 - 2*r.IntN(2))
	}
	return r.NormFloat64() * 1000
}

func TestUnmarshalZeroCopyReusedEqualsFresh(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 13))
	reused := &PushRequest{}
	reusedHist := &Histogram{}
	for i := range 3000 {
		req := randomPushRequest(r)
		data := mustMarshal(t, req)

		var fresh, gogo PushRequest
		require.NoError(t, fresh.UnmarshalZeroCopy(data))
		require.NoError(t, gogo.Unmarshal(data))
		require.Equal(t, &gogo, &fresh, "message %d: the zero-copy decoder differs from gogo", i)
		require.NoError(t, reused.UnmarshalZeroCopy(data))
		require.Equal(t, &fresh, reused, "message %d: decoding into a reused message differs from a fresh one", i)

		// The histogram decoder on its own, as remote-write 2.0 uses it.
		for _, ts := range req.Timeseries {
			for _, h := range ts.Histograms {
				hd := mustMarshal(t, &h)
				var freshHist Histogram
				require.NoError(t, freshHist.UnmarshalZeroCopy(hd))
				require.NoError(t, reusedHist.UnmarshalZeroCopy(hd))
				require.Equal(t, &freshHist, reusedHist, "message %d", i)
			}
		}
	}
}

// A custom-bucket histogram followed by an exponential one in the same
// reused message: the second must not inherit custom bounds (the leak of
// issue #21, found by the property above, kept as a named case).
func TestUnmarshalZeroCopyCustomBoundsDoNotLeak(t *testing.T) {
	nhcb := &PushRequest{Timeseries: []TimeSeries{{
		Labels: []LabelPair{{Name: "__name__", Value: "nhcb"}},
		Histograms: []Histogram{{
			Schema: -53, Count: &Histogram_CountInt{CountInt: 1}, PositiveSpans: []BucketSpan{{Length: 1}},
			PositiveDeltas: []int64{1}, CustomValues: []float64{1}, TimestampMs: 1,
		}},
	}}}
	exp := &PushRequest{Timeseries: []TimeSeries{{
		Labels:     []LabelPair{{Name: "__name__", Value: "exp"}},
		Histograms: []Histogram{{Schema: 3, Count: &Histogram_CountInt{CountInt: 0}, TimestampMs: 2}},
	}}}
	var m PushRequest
	require.NoError(t, m.UnmarshalZeroCopy(mustMarshal(t, nhcb)))
	require.NotNil(t, m.Timeseries[0].Histograms[0].CustomValues)
	require.NoError(t, m.UnmarshalZeroCopy(mustMarshal(t, exp)))
	require.Nil(t, m.Timeseries[0].Histograms[0].CustomValues)
	require.Nil(t, m.Timeseries[0].Histograms[0].PositiveSpans)
	require.Nil(t, m.Timeseries[0].Histograms[0].PositiveDeltas)
}

func randomQueryStreamResponse(r *rand.Rand) *QueryStreamResponse {
	resp := &QueryStreamResponse{}
	for range r.IntN(5) {
		cs := ChunkSeries{}
		for range r.IntN(4) {
			cs.Labels = append(cs.Labels, LabelPair{Name: randString(r, "job"), Value: randString(r, "node")})
		}
		for range r.IntN(3) {
			c := Chunk{MinTimeMs: r.Int64N(1 << 40), MaxTimeMs: r.Int64N(1 << 40), Encoding: Chunk_Encoding(r.IntN(4))}
			if n := r.IntN(20); n > 0 {
				c.Data = make([]byte, n)
				for i := range c.Data {
					c.Data[i] = byte(r.IntN(256))
				}
			}
			cs.Chunks = append(cs.Chunks, c)
		}
		resp.Series = append(resp.Series, cs)
	}
	return resp
}

func TestQueryStreamUnmarshalZeroCopyReusedEqualsFresh(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 8))
	reused := &QueryStreamResponse{}
	for i := range 2000 {
		data := mustMarshal(t, randomQueryStreamResponse(r))
		var fresh, gogo QueryStreamResponse
		require.NoError(t, fresh.UnmarshalZeroCopy(data))
		require.NoError(t, gogo.Unmarshal(data))
		require.Equal(t, &gogo, &fresh, "message %d: the zero-copy decoder differs from gogo", i)
		require.NoError(t, reused.UnmarshalZeroCopy(data))
		require.Equal(t, &fresh, reused, "message %d: decoding into a reused message differs from a fresh one", i)
	}
}

// FuzzUnmarshalZeroCopyReused checks the reuse property and the limits on
// any input: decoded into a message that held a request with every kind of
// field (a custom-bucket histogram, exemplars, metadata), the result equals
// a fresh decode; with limits, a request either decodes to the same result
// or is refused with a count over the limit.
func FuzzUnmarshalZeroCopyReused(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		f.Add(mustMarshal(f, randomPushRequest(r)))
	}
	f.Add(bytes.Repeat([]byte{0x0a, 0x00}, 10))
	prior := mustMarshal(f, testRequests()["exemplars, histograms, metadata and source"])
	f.Fuzz(func(t *testing.T, data []byte) {
		var fresh PushRequest
		freshErr := fresh.UnmarshalZeroCopy(data)
		var reused PushRequest
		require.NoError(t, reused.UnmarshalZeroCopy(prior))
		reusedErr := reused.UnmarshalZeroCopy(data)
		require.Equal(t, freshErr == nil, reusedErr == nil)
		if freshErr == nil {
			ingesterpbtest.RequireSame(t, &fresh, &reused)
		}
		lim := DecodeLimits{MaxSeries: 3, MaxLabels: 5}
		var limited PushRequest
		err := limited.UnmarshalZeroCopyLimits(data, lim)
		var le *DecodeLimitError
		switch {
		case errors.As(err, &le):
			max := map[string]int{"series": lim.MaxSeries, "labels": lim.MaxLabels}[le.What]
			require.Equal(t, max, le.Limit)
			require.Greater(t, le.Actual, le.Limit, err.Error())
		case err == nil:
			require.NoError(t, freshErr)
			ingesterpbtest.RequireSame(t, &fresh, &limited)
		default:
			require.Error(t, freshErr)
		}
	})
}
