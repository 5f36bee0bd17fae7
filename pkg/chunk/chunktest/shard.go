package chunktest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/queryshard"
)

// testQueryShards checks that a __query_shard__ matcher keeps exactly the
// series of its shard in Select, LabelNames and LabelValues, that the
// shards partition the unsharded answer, and that a malformed one is an
// error naming it.
func testQueryShards(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, nil)
	var batch []chunk.SeriesChunks
	for k := range 30 {
		batch = append(batch, chunk.SeriesChunks{
			Labels: labels.FromStrings("__name__", "m", "job", fmt.Sprint("j", k)),
			Chunks: []chunk.Chunk{XORChunk(t, Base, 10, 15000, uint64(k))},
		})
	}
	_, err := s.WriteSeries(ctx, "t1", batch)
	require.NoError(t, err)
	name := MustMatcher(t, labels.MatchEqual, "__name__", "m")
	all, err := s.Select(ctx, "t1", Base, Base+hour, name)
	require.NoError(t, err)
	require.Len(t, all, len(batch))

	const n = 3
	var union []string
	for i := range uint64(n) {
		shard := queryshard.Shard{Index: i, Count: n}
		var want []string
		for _, sc := range batch {
			if shard.Contains(sc.Labels) {
				want = append(want, sc.Labels.Get("job"))
			}
		}
		slices.Sort(want)
		for desc, ms := range map[string][]*labels.Matcher{
			"with a name": {shard.Matcher(), name},
			"shard only":  {shard.Matcher()},
		} {
			t.Run(fmt.Sprint(shard, " ", desc), func(t *testing.T) {
				got, err := s.Select(ctx, "t1", Base, Base+hour, ms...)
				require.NoError(t, err)
				var jobs []string
				for _, sr := range got {
					jobs = append(jobs, sr.Labels.Get("job"))
					require.NotEmpty(t, sr.Chunks)
				}
				require.Equal(t, want, jobs, "Select returns the shard's series sorted")
				values, err := s.LabelValues(ctx, "t1", "job", Base, Base+hour, ms...)
				require.NoError(t, err)
				require.Equal(t, want, values)
				names, err := s.LabelNames(ctx, "t1", Base, Base+hour, ms...)
				require.NoError(t, err)
				if len(want) > 0 {
					require.Equal(t, []string{"__name__", "job"}, names)
				}
			})
		}
		union = append(union, want...)
	}
	slices.Sort(union)
	var jobs []string
	for _, sr := range all {
		jobs = append(jobs, sr.Labels.Get("job"))
	}
	slices.Sort(jobs)
	require.Equal(t, jobs, union)

	bad := MustMatcher(t, labels.MatchEqual, queryshard.LabelName, "1_of_x")
	_, err = s.Select(ctx, "t1", Base, Base+hour, name, bad)
	require.ErrorIs(t, err, queryshard.ErrMalformed)
	require.ErrorContains(t, err, `__query_shard__="1_of_x"`)
	_, err = s.LabelValues(ctx, "t1", "job", Base, Base+hour, bad)
	require.ErrorIs(t, err, queryshard.ErrMalformed)
	_, err = s.LabelNames(ctx, "t1", Base, Base+hour, bad)
	require.ErrorIs(t, err, queryshard.ErrMalformed)
}
