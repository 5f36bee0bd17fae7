package querier

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/queryshard"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TestQueryShardsAcrossIngestersAndStore puts every series in three
// ingester replicas (RF=3) for the last 14h and in the store for 30h ago
// to 10h ago, so each series is in both sources for 4h (as after a flush).
// Each series must fall in exactly one shard of N, with the samples of the
// unsharded answer: the ingesters and the store agree on the hash. The
// union of the N shards is the unsharded answer, for range queries, series
// and label values.
func TestQueryShardsAcrossIngestersAndStore(t *testing.T) {
	for backend, newStore := range storeBackends {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().Truncate(time.Minute)
			n := now.UnixMilli()
			series := counters("http_requests_total", 24, n-30*hourMs, n, 60_000)
			c := newCluster(t, 3)
			st := newStore(t)
			writeStore(t, st, "t", series, n-30*hourMs, n-10*hourMs)
			pushIngesters(t, c, "t", series, n-14*hourMs, n)
			q, _ := testQueryable(c, st, nil, now)
			engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery*100)
			ctx := tenant.WithID(context.Background(), "t")
			start, end := now.Add(-29*time.Hour), now

			for _, expr := range []string{`http_requests_total%s`, `count_over_time(http_requests_total%s[1h])`} {
				t.Run(expr, func(t *testing.T) {
					want := rangeQuery(t, engine, q, ctx, fmt.Sprintf(expr, ""), start, end, 5*time.Minute)
					require.Len(t, want, len(series))
					for _, count := range []uint64{1, 3, 8} {
						var union promql.Matrix
						for i := range count {
							shard := queryshard.Shard{Index: i, Count: count}
							got := rangeQuery(t, engine, q, ctx, fmt.Sprintf(expr, "{"+shard.Matcher().String()+"}"), start, end, 5*time.Minute)
							for _, s := range got {
								require.True(t, shard.Contains(s.Metric) || s.Metric.Get("__name__") == "", "series %s in shard %s", s.Metric, shard)
							}
							union = append(union, got...)
						}
						slices.SortFunc(union, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
						requireSameMatrix(t, want, union)
					}
				})
			}

			// Series and label values, over the store and the ingesters.
			qr, err := q.Querier(n-29*hourMs, n)
			require.NoError(t, err)
			name := labels.MustNewMatcher(labels.MatchEqual, "__name__", "http_requests_total")
			var unionSeries, unionValues []string
			for i := range uint64(4) {
				shard := queryshard.Shard{Index: i, Count: 4}
				ss := qr.Select(ctx, true, &storage.SelectHints{Start: n - 29*hourMs, End: n, Func: "series"}, name, shard.Matcher())
				for ss.Next() {
					require.True(t, shard.Contains(ss.At().Labels()))
					unionSeries = append(unionSeries, ss.At().Labels().String())
				}
				require.NoError(t, ss.Err())
				values, _, err := qr.LabelValues(ctx, "instance", nil, shard.Matcher())
				require.NoError(t, err)
				unionValues = append(unionValues, values...)
			}
			var wantSeries, wantValues []string
			for _, s := range series {
				wantSeries = append(wantSeries, s.lset.String())
				wantValues = append(wantValues, s.lset.Get("instance"))
			}
			for _, s := range [][]string{unionSeries, unionValues, wantSeries, wantValues} {
				slices.Sort(s)
			}
			require.Equal(t, wantSeries, unionSeries)
			require.Equal(t, wantValues, unionValues)
		})
	}
}
