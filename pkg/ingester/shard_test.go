package ingester

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/queryshard"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestQueryShards checks that a __query_shard__ matcher selects, through
// QueryStream, Series, LabelNames, LabelValues and QueryExemplars, exactly
// the series queryshard puts in that shard, that the shards partition the
// unsharded answer, and that it still holds after a WAL replay (the head
// recomputes each series' shard hash).
func TestQueryShards(t *testing.T) {
	const nSeries, nShards = 40, 4
	dir := t.TempDir()
	env := startIngester(t, dir, limits.NewOverrides(defaultLimits()))
	var all []string
	for k := range nSeries {
		s := withSamples(series("__name__", "m", "job", fmt.Sprint("j", k), fmt.Sprint("l", k%3), "x"),
			ingesterpb.Sample{TimestampMs: 1000, Value: float64(k)})
		s.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: fmt.Sprint(k)}}, Value: 1, TimestampMs: 1000}}
		push(t, env, "t", s)
		all = append(all, fmt.Sprint("j", k))
	}
	slices.Sort(all)
	name := ingesterpb.LabelMatcher{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "__name__", Value: "m"}
	shardMatcher := func(s queryshard.Shard) ingesterpb.LabelMatcher {
		return ingesterpb.LabelMatcher{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: queryshard.LabelName, Value: s.String()}
	}
	jobsIn := func(s queryshard.Shard) []string {
		var out []string
		for k := range nSeries {
			ls := labels.FromStrings("__name__", "m", "job", fmt.Sprint("j", k), fmt.Sprint("l", k%3), "x")
			if s.Contains(ls) {
				out = append(out, fmt.Sprint("j", k))
			}
		}
		slices.Sort(out)
		return out
	}

	check := func(t *testing.T) {
		var union []string
		for i := range uint64(nShards) {
			shard := queryshard.Shard{Index: i, Count: nShards}
			want := jobsIn(shard)
			ctx := ctxFor("t")
			for desc, matchers := range map[string][]ingesterpb.LabelMatcher{
				"with a name": {name, shardMatcher(shard)},
				"shard only":  {shardMatcher(shard)},
			} {
				t.Run(fmt.Sprint(shard, " ", desc), func(t *testing.T) {
					got, _ := queryAll(t, env, "t", &ingesterpb.QueryRequest{StartMs: 0, EndMs: 2000, Matchers: matchers})
					var jobs []string
					for _, r := range got {
						jobs = append(jobs, r.labels["job"])
						_, hasShard := r.labels[queryshard.LabelName]
						require.False(t, hasShard)
					}
					slices.Sort(jobs)
					require.Equal(t, want, jobs)

					sr, err := env.client.Series(ctx, &ingesterpb.SeriesRequest{StartMs: 0, EndMs: 2000, MatcherSets: []ingesterpb.MatcherSet{{Matchers: matchers}}})
					require.NoError(t, err)
					jobs = jobs[:0]
					for _, s := range sr.Series {
						jobs = append(jobs, ingesterpb.ToLabels(s.Labels).Get("job"))
					}
					slices.Sort(jobs)
					require.Equal(t, want, jobs)

					lv, err := env.client.LabelValues(ctx, &ingesterpb.LabelValuesRequest{Name: "job", StartMs: 0, EndMs: 2000, Matchers: matchers})
					require.NoError(t, err)
					require.Equal(t, want, lv.Values)

					ln, err := env.client.LabelNames(ctx, &ingesterpb.LabelNamesRequest{StartMs: 0, EndMs: 2000, Matchers: matchers})
					require.NoError(t, err)
					require.Contains(t, ln.Names, "job")
					require.NotContains(t, ln.Names, queryshard.LabelName)

					ex, err := env.client.QueryExemplars(ctx, &ingesterpb.ExemplarQueryRequest{StartMs: 0, EndMs: 2000, MatcherSets: []ingesterpb.MatcherSet{{Matchers: matchers}}})
					require.NoError(t, err)
					jobs = jobs[:0]
					for _, s := range ex.Series {
						jobs = append(jobs, ingesterpb.ToLabels(s.Labels).Get("job"))
					}
					slices.Sort(jobs)
					require.Equal(t, want, jobs)
				})
			}
			union = append(union, want...)
		}
		slices.Sort(union)
		require.Equal(t, all, union, "the shards partition the series")
	}
	t.Run("head", check)
	env.stop()
	env = startIngester(t, dir, limits.NewOverrides(defaultLimits()))
	t.Run("after WAL replay", check)
}

func TestMalformedQueryShardIsInvalidArgument(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	push(t, env, "t", withSamples(series("__name__", "m"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	bad := []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: queryshard.LabelName, Value: "5_of_4"}}
	ctx := ctxFor("t")
	stream, err := env.client.QueryStream(ctx, &ingesterpb.QueryRequest{StartMs: 0, EndMs: 2000, Matchers: bad})
	if err == nil {
		_, err = stream.Recv()
	}
	requireInvalid := func(err error) {
		t.Helper()
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
		require.ErrorContains(t, err, `__query_shard__="5_of_4"`)
	}
	requireInvalid(err)
	_, err = env.client.Series(ctx, &ingesterpb.SeriesRequest{EndMs: 2000, MatcherSets: []ingesterpb.MatcherSet{{Matchers: bad}}})
	requireInvalid(err)
	_, err = env.client.LabelNames(ctx, &ingesterpb.LabelNamesRequest{EndMs: 2000, Matchers: bad})
	requireInvalid(err)
	_, err = env.client.LabelValues(ctx, &ingesterpb.LabelValuesRequest{Name: "x", EndMs: 2000, Matchers: bad})
	requireInvalid(err)
	_, err = env.client.QueryExemplars(ctx, &ingesterpb.ExemplarQueryRequest{EndMs: 2000, MatcherSets: []ingesterpb.MatcherSet{{Matchers: bad}}})
	requireInvalid(err)
}
