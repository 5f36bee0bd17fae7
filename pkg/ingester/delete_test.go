package ingester

import (
	"context"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestDeleteSeries deletes a range of one series whose samples are partly
// in a compacted block and partly in the head: the range is gone from
// QueryStream, the other series is untouched, and the block the flusher
// will copy to the store was rewritten without the deleted samples.
func TestDeleteSeries(t *testing.T) {
	f := &fakeFlusher{flushed: map[ulid.ULID]bool{}}
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()), withFlusher(f))
	hour := time.Hour.Milliseconds()
	var a, b []ingesterpb.Sample
	for ts := int64(0); ts <= 3*hour; ts += 60_000 {
		a = append(a, ingesterpb.Sample{TimestampMs: ts, Value: float64(ts)})
		b = append(b, ingesterpb.Sample{TimestampMs: ts, Value: -float64(ts)})
	}
	push(t, env, "t", withSamples(series("__name__", "m", "job", "a"), a...), withSamples(series("__name__", "m", "job", "b"), b...))
	require.NoError(t, env.ing.ForceCompact(context.Background()))
	before := f.blocks()
	require.NotEmpty(t, before)
	var samplesBefore uint64
	for _, m := range before {
		samplesBefore += m.Stats.NumSamples
	}

	// Later samples stay in the head.
	push(t, env, "t", withSamples(series("__name__", "m", "job", "a"), ingesterpb.Sample{TimestampMs: 3*hour + 60_000, Value: 1}))
	from, to := hour, 3*hour+60_000
	_, err := env.client.DeleteSeries(ctxFor("t"), &ingesterpb.DeleteSeriesRequest{
		StartMs: from, EndMs: to,
		MatcherSets: []ingesterpb.MatcherSet{{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "a"}}}},
	})
	require.NoError(t, err)

	got, _ := queryAll(t, env, "t", allSeries())
	var wantA []ingesterpb.Sample
	for _, s := range a {
		if s.TimestampMs < from {
			wantA = append(wantA, s)
		}
	}
	require.Equal(t, wantA, got["m/a"].samples)
	require.Equal(t, b, got["m/b"].samples)

	after := f.blocks()[len(before):]
	require.NotEmpty(t, after, "the rewritten blocks are reported to the flusher")
	var samplesAfter uint64
	for _, m := range after {
		samplesAfter += m.Stats.NumSamples
		require.Zero(t, m.Stats.NumTombstones)
	}
	require.Equal(t, samplesBefore-uint64(len(a)-len(wantA)), samplesAfter)

	// Again: nothing changes; an unknown tenant has nothing to delete.
	_, err = env.client.DeleteSeries(ctxFor("t"), &ingesterpb.DeleteSeriesRequest{StartMs: from, EndMs: to,
		MatcherSets: []ingesterpb.MatcherSet{{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "a"}}}}})
	require.NoError(t, err)
	_, err = env.client.DeleteSeries(ctxFor("other"), &ingesterpb.DeleteSeriesRequest{StartMs: from, EndMs: to,
		MatcherSets: []ingesterpb.MatcherSet{{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "a"}}}}})
	require.NoError(t, err)
}

func TestDeleteSeriesBadRequests(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	job := []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "a"}}
	for desc, tc := range map[string]struct {
		req     *ingesterpb.DeleteSeriesRequest
		wantErr string
	}{
		"no matcher set":    {req: &ingesterpb.DeleteSeriesRequest{EndMs: 1}, wantErr: "at least one matcher set"},
		"empty matcher set": {req: &ingesterpb.DeleteSeriesRequest{EndMs: 1, MatcherSets: []ingesterpb.MatcherSet{{}}}, wantErr: "would delete every series"},
		"end before start":  {req: &ingesterpb.DeleteSeriesRequest{StartMs: 2, EndMs: 1, MatcherSets: []ingesterpb.MatcherSet{{Matchers: job}}}, wantErr: "end 1 is before start 2"},
		"bad regex": {req: &ingesterpb.DeleteSeriesRequest{EndMs: 1, MatcherSets: []ingesterpb.MatcherSet{{Matchers: []ingesterpb.LabelMatcher{
			{Type: ingesterpb.LabelMatcher_TYPE_RE, Name: "job", Value: "("},
		}}}}, wantErr: "("},
	} {
		t.Run(desc, func(t *testing.T) {
			_, err := env.client.DeleteSeries(ctxFor("t"), tc.req)
			require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
