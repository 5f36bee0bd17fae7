package ingester

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// fromHistogram converts an integer histogram to its wire form.
func fromHistogram(ts int64, h *histogram.Histogram) ingesterpb.Histogram {
	return ingesterpb.Histogram{
		Count:          &ingesterpb.Histogram_CountInt{CountInt: h.Count},
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		ZeroCount:      &ingesterpb.Histogram_ZeroCountInt{ZeroCountInt: h.ZeroCount},
		NegativeSpans:  fromSpans(h.NegativeSpans),
		NegativeDeltas: h.NegativeBuckets,
		PositiveSpans:  fromSpans(h.PositiveSpans),
		PositiveDeltas: h.PositiveBuckets,
		ResetHint:      ingesterpb.Histogram_RESET_HINT_NO,
		TimestampMs:    ts,
	}
}

// fromFloatHistogram converts a float histogram to its wire form.
func fromFloatHistogram(ts int64, h *histogram.FloatHistogram) ingesterpb.Histogram {
	return ingesterpb.Histogram{
		Count:          &ingesterpb.Histogram_CountFloat{CountFloat: h.Count},
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		ZeroCount:      &ingesterpb.Histogram_ZeroCountFloat{ZeroCountFloat: h.ZeroCount},
		NegativeSpans:  fromSpans(h.NegativeSpans),
		NegativeCounts: h.NegativeBuckets,
		PositiveSpans:  fromSpans(h.PositiveSpans),
		PositiveCounts: h.PositiveBuckets,
		ResetHint:      ingesterpb.Histogram_RESET_HINT_NO,
		TimestampMs:    ts,
	}
}

func fromSpans(in []histogram.Span) []ingesterpb.BucketSpan {
	out := make([]ingesterpb.BucketSpan, 0, len(in))
	for _, s := range in {
		out = append(out, ingesterpb.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	return out
}

func TestNativeHistogramsAndExemplarsRoundTrip(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))

	intSeries := series("__name__", "latency", "job", "int")
	floatSeries := series("__name__", "latency", "job", "float")
	var wantInt []*histogram.Histogram
	var wantFloat []*histogram.FloatHistogram
	for k := int64(1); k <= 3; k++ {
		h := tsdbutil.GenerateTestHistogram(k)
		h.CounterResetHint = histogram.NotCounterReset
		intSeries.Histograms = append(intSeries.Histograms, fromHistogram(k*1000, h))
		wantInt = append(wantInt, h)
		fh := tsdbutil.GenerateTestFloatHistogram(k)
		fh.CounterResetHint = histogram.NotCounterReset
		floatSeries.Histograms = append(floatSeries.Histograms, fromFloatHistogram(k*1000, fh))
		wantFloat = append(wantFloat, fh)
	}
	withExemplars := withSamples(series("__name__", "requests_total", "job", "api"),
		ingesterpb.Sample{TimestampMs: 1000, Value: 1}, ingesterpb.Sample{TimestampMs: 2000, Value: 2})
	withExemplars.Exemplars = []ingesterpb.Exemplar{
		{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "def"}}, Value: 2, TimestampMs: 2000},
		{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "abc"}}, Value: 1, TimestampMs: 1000},
	}
	require.Empty(t, push(t, env, "t", intSeries, floatSeries, withExemplars).Errors)

	got, _ := queryAll(t, env, "t", allSeries())
	require.Equal(t, []ingesterpb.Chunk_Encoding{ingesterpb.Chunk_ENCODING_HISTOGRAM}, got["latency/int"].encodings)
	require.Equal(t, []ingesterpb.Chunk_Encoding{ingesterpb.Chunk_ENCODING_FLOAT_HISTOGRAM}, got["latency/float"].encodings)
	require.Len(t, got["latency/int"].histograms, 3)
	for k, h := range got["latency/int"].histograms {
		require.True(t, wantInt[k].Equals(h), "histogram %d: got %s, want %s", k, h, wantInt[k])
	}
	for k, fh := range got["latency/float"].floatHists {
		require.True(t, wantFloat[k].Equals(fh), "float histogram %d: got %s, want %s", k, fh, wantFloat[k])
	}

	ex, err := env.client.QueryExemplars(ctxFor("t"), &ingesterpb.ExemplarQueryRequest{StartMs: 0, EndMs: 5000, MatcherSets: []ingesterpb.MatcherSet{
		{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "api"}}},
	}})
	require.NoError(t, err)
	require.Len(t, ex.Series, 1)
	require.Equal(t, []ingesterpb.Exemplar{
		{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "abc"}}, Value: 1, TimestampMs: 1000},
		{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "def"}}, Value: 2, TimestampMs: 2000},
	}, ex.Series[0].Exemplars)

	// An older exemplar is out of order; an exemplar of an unknown series
	// has nowhere to go.
	older := series("__name__", "requests_total", "job", "api")
	older.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "old"}}, Value: 1, TimestampMs: 500}}
	orphan := series("__name__", "unknown")
	orphan.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "x"}}, Value: 1, TimestampMs: 500}}
	resp := push(t, env, "t", older, orphan)
	reasons := map[string]uint64{}
	for _, e := range resp.Errors {
		reasons[e.Reason] = e.Samples
	}
	require.Equal(t, map[string]uint64{"exemplar_out_of_order": 1, "exemplar_series_missing": 1}, reasons)

	bad := series("__name__", "latency", "job", "bad")
	h := tsdbutil.GenerateTestHistogram(1)
	h.Count = 1 // Fewer than the buckets hold.
	bad.Histograms = []ingesterpb.Histogram{fromHistogram(1000, h)}
	resp = push(t, env, "t", bad)
	require.Len(t, resp.Errors, 1)
	require.Equal(t, "invalid_native_histogram", resp.Errors[0].Reason)
}

func TestQueryStreamLimits(t *testing.T) {
	// 10 series, each with 2 chunks (a chunk is cut every 120 samples).
	var ts []ingesterpb.TimeSeries
	for s := range 10 {
		one := series("__name__", "m", "job", fmt.Sprint(s))
		for k := range 200 {
			one.Samples = append(one.Samples, ingesterpb.Sample{TimestampMs: int64(k) * 15000, Value: float64(k)})
		}
		ts = append(ts, one)
	}
	tests := map[string]struct {
		limits  func(*limits.Limits)
		skip    bool
		wantErr string
	}{
		"under every limit": {
			limits: func(l *limits.Limits) {
				l.MaxSeriesPerQuery, l.MaxChunksPerQuery, l.MaxChunkBytesPerQuery = 10, 20, 1<<20
			},
		},
		"series limit": {
			limits:  func(l *limits.Limits) { l.MaxSeriesPerQuery = 9 },
			wantErr: `more than 9 series from this ingester, the limit -querier.max-series-per-query of tenant "t"`,
		},
		"series limit applies to label-only queries": {
			limits:  func(l *limits.Limits) { l.MaxSeriesPerQuery = 9 },
			skip:    true,
			wantErr: "-querier.max-series-per-query",
		},
		"chunk limit": {
			limits:  func(l *limits.Limits) { l.MaxChunksPerQuery = 19 },
			wantErr: `more than 19 chunks from this ingester, the limit -querier.max-chunks-per-query of tenant "t"`,
		},
		"chunk limit does not apply to label-only queries": {
			limits: func(l *limits.Limits) { l.MaxChunksPerQuery = 1 },
			skip:   true,
		},
		"byte limit": {
			limits:  func(l *limits.Limits) { l.MaxChunkBytesPerQuery = 100 },
			wantErr: `more than 100 chunk bytes from this ingester, the limit -querier.max-chunk-bytes-per-query of tenant "t"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := defaultLimits()
			tc.limits(&l)
			env := startIngester(t, t.TempDir(), limits.NewOverrides(l))
			require.Empty(t, push(t, env, "t", ts...).Errors)

			req := allSeries()
			req.SkipChunks = tc.skip
			stream, err := env.client.QueryStream(ctxFor("t"), req)
			require.NoError(t, err)
			var recvErr error
			for recvErr == nil {
				_, recvErr = stream.Recv()
			}
			if tc.wantErr == "" {
				require.Equal(t, "EOF", recvErr.Error())
				return
			}
			require.Equal(t, codes.ResourceExhausted, status.Code(recvErr))
			require.Contains(t, status.Convert(recvErr).Message(), tc.wantErr)
		})
	}
}

func TestQueryStreamBatches(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	var ts []ingesterpb.TimeSeries
	for s := range 300 {
		ts = append(ts, withSamples(series("__name__", "m", "job", fmt.Sprint(s)), ingesterpb.Sample{TimestampMs: 1000, Value: float64(s)}))
	}
	require.Empty(t, push(t, env, "t", ts...).Errors)
	got, messages := queryAll(t, env, "t", allSeries())
	require.Len(t, got, 300)
	require.Equal(t, 3, messages) // 128 + 128 + 44.
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 299}}, got["m/299"].samples)

	// A time range without samples returns nothing.
	none, _ := queryAll(t, env, "t", &ingesterpb.QueryRequest{StartMs: 5000, EndMs: 6000})
	require.Empty(t, none)
}

func TestStatsAndRuntimeLimits(t *testing.T) {
	overrides := limits.NewOverrides(defaultLimits())
	env := startIngester(t, t.TempDir(), overrides)
	s := series("__name__", "m")
	for k := range 30 {
		s.Samples = append(s.Samples, ingesterpb.Sample{TimestampMs: int64(k+100) * 1000, Value: 1})
	}
	_, err := env.client.Push(ctxFor("t"), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{s}, Source: ingesterpb.Source_SOURCE_RULE})
	require.NoError(t, err)
	tdb := env.ing.dbs.get("t")
	tdb.apiRate.tick()
	tdb.ruleRate.tick()
	stats, err := env.client.TenantStats(ctxFor("t"), &ingesterpb.TenantStatsRequest{})
	require.NoError(t, err)
	require.Equal(t, ingesterpb.TenantStats{NumSeries: 1, IngestionRate: 2, RuleIngestionRate: 2}, stats.Stats)

	// An out-of-order window set at runtime applies on the next cycle.
	old := withSamples(series("__name__", "m"), ingesterpb.Sample{TimestampMs: 50_000, Value: 1})
	require.Equal(t, "sample_out_of_order", push(t, env, "t", old).Errors[0].Reason)
	l := defaultLimits()
	l.OutOfOrderTimeWindow = model.Duration(time.Hour)
	overrides.Set(map[tenant.ID]*limits.Limits{"t": &l})
	require.NoError(t, env.ing.Compact(ctxFor("t")))
	require.Empty(t, push(t, env, "t", old).Errors)
}
