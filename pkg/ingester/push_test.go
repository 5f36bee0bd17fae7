package ingester

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestPushKeepsNoHistogramOfTheRequest pushes native histograms whose
// bucket slices belong to the caller, scribbles over them after Push
// returned (as the distributor does when it reuses a pooled request for the
// next push), and pushes the same histograms again at the same timestamps:
// the head compares a repeated sample with the last one it kept, so the
// repeat is a harmless duplicate only if the head kept its own copy.
func TestPushKeepsNoHistogramOfTheRequest(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	request := func() *ingesterpb.PushRequest {
		h := ingesterpb.TimeSeries{
			Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "h"}},
			Histograms: []ingesterpb.Histogram{{
				Count: &ingesterpb.Histogram_CountInt{CountInt: 3}, ZeroCount: &ingesterpb.Histogram_ZeroCountInt{ZeroCountInt: 0},
				Sum: 3, Schema: 0, TimestampMs: 1000,
				PositiveSpans: []ingesterpb.BucketSpan{{Offset: 0, Length: 2}}, PositiveDeltas: []int64{1, 1},
			}},
		}
		fh := ingesterpb.TimeSeries{
			Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "fh"}},
			Histograms: []ingesterpb.Histogram{{
				Count: &ingesterpb.Histogram_CountFloat{CountFloat: 3}, ZeroCount: &ingesterpb.Histogram_ZeroCountFloat{ZeroCountFloat: 0},
				Sum: 3, Schema: 0, TimestampMs: 1000,
				PositiveSpans: []ingesterpb.BucketSpan{{Offset: 0, Length: 2}}, PositiveCounts: []float64{1, 2},
			}},
		}
		return &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{h, fh}}
	}

	req := request()
	resp, err := env.ing.Push(ctxFor("t"), req)
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
	// The caller reuses its buffers.
	for _, ts := range req.Timeseries {
		h := &ts.Histograms[0]
		for k := range h.PositiveDeltas {
			h.PositiveDeltas[k] = 99
		}
		for k := range h.PositiveCounts {
			h.PositiveCounts[k] = 99
		}
	}

	resp, err = env.ing.Push(ctxFor("t"), request())
	require.NoError(t, err)
	require.Empty(t, resp.Errors, "a repeated histogram must be a duplicate of the kept one")

	got, _ := queryAll(t, env, "t", allSeries())
	require.Len(t, got, 2)
	require.Len(t, got["h/"].histograms, 1)
	require.Equal(t, []int64{1, 1}, got["h/"].histograms[0].PositiveBuckets)
	require.Len(t, got["fh/"].floatHists, 1)
	require.Equal(t, []float64{1, 2}, got["fh/"].floatHists[0].PositiveBuckets)
}
