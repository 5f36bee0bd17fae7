package queryrangetest

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
)

// TestShardsPartitionSeries: every series is in exactly one shard, the
// same whether the wrapper filters by hash or hands the TSDB the hints.
func TestShardsPartitionSeries(t *testing.T) {
	st := teststorage.New(t, func(o *tsdb.Options) { o.EnableSharding = true })
	app := st.Appender(context.Background())
	for i := range 200 {
		_, err := app.Append(0, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), 1000, 1)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	names := func(q storage.Queryable, shard string) []string {
		qr, err := q.Querier(math.MinInt64, math.MaxInt64)
		require.NoError(t, err)
		defer qr.Close()
		ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")}
		if shard != "" {
			ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, ShardLabel, shard))
		}
		set := qr.Select(context.Background(), true, nil, ms...)
		var out []string
		for set.Next() {
			out = append(out, set.At().Labels().Get("i"))
		}
		require.NoError(t, set.Err())
		return out
	}
	all := names(Sharding(st), "")
	require.Len(t, all, 200)
	seen := map[string]int{}
	for i := range 4 {
		shard := fmt.Sprintf("%d_of_4", i+1)
		filtered := names(Sharding(st), shard)
		require.Equal(t, filtered, names(ShardingWithHints(st), shard))
		require.NotEmpty(t, filtered)
		for _, n := range filtered {
			seen[n]++
		}
	}
	require.Len(t, seen, 200)
	for n, c := range seen {
		require.Equal(t, 1, c, "series %s in %d shards", n, c)
	}

	_, _, err := ParseShard("0_of_4")
	require.Error(t, err)
	_, _, err = ParseShard("5_of_4")
	require.Error(t, err)
}
