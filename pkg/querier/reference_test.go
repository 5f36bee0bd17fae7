package querier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// loadBoth writes nSeries counters of points samples each (every 15s from
// time 0, with random gaps and resets) to a Prometheus test storage and,
// as quorum writes would, to at least two of the cluster's three ingesters
// per sample. It returns the test storage.
func loadBoth(t testing.TB, c *cluster, ctx context.Context, nSeries, points int) storage.Storage {
	t.Helper()
	ref := teststorage.New(t)
	app := ref.Appender(ctx)
	rnd := rand.New(rand.NewPCG(1, 2))
	replicas := make([]*ingesterpb.PushRequest, 3)
	for i := range replicas {
		replicas[i] = &ingesterpb.PushRequest{}
	}
	for s := range nSeries {
		lset := labels.FromStrings("__name__", "http_requests_total", "job", fmt.Sprint("job", s%10), "instance", fmt.Sprint("i", s))
		tss := make([]ingesterpb.TimeSeries, 3)
		for i := range tss {
			tss[i].Labels = toPairs(lset)
		}
		v := 0.0
		for p := range points {
			if rnd.IntN(20) == 0 {
				continue // A missed scrape.
			}
			if rnd.IntN(200) == 0 {
				v = 0 // A counter reset.
			}
			v += float64(rnd.IntN(100))
			ts := int64(p) * 15_000
			_, err := app.Append(0, lset, ts, v)
			require.NoError(t, err)
			skip := rnd.IntN(4) // 0..2: that replica misses it; 3: all have it.
			for i := range tss {
				if i != skip {
					tss[i].Samples = append(tss[i].Samples, ingesterpb.Sample{TimestampMs: ts, Value: v})
				}
			}
		}
		for i := range tss {
			replicas[i].Timeseries = append(replicas[i].Timeseries, tss[i])
		}
	}
	require.NoError(t, app.Commit())
	for i, req := range replicas {
		require.NoError(t, c.push(ctx, req, i))
	}
	return ref
}

// TestRangeQueriesMatchPrometheus runs range queries with the same engine
// over Hearth's path and over a local Prometheus storage holding the same
// samples, and requires equal results.
func TestRangeQueriesMatchPrometheus(t *testing.T) {
	c := newCluster(t, 3)
	c.maxErrors = 0 // Replicas miss samples here: every one must answer.
	ctx := tenant.WithID(context.Background(), "ref")
	ref := loadBoth(t, c, ctx, 50, 480) // 2h.
	hearth := newTestQueryable(c)
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery*100)

	start, end := time.UnixMilli(0).Add(10*time.Minute), time.UnixMilli(0).Add(2*time.Hour)
	for _, q := range []string{
		`http_requests_total`,
		`rate(http_requests_total[5m])`,
		`sum by (job) (rate(http_requests_total[5m]))`,
		`increase(http_requests_total{job=~"job[1-3]"}[10m])`,
		`resets(http_requests_total[30m])`,
		`max_over_time(http_requests_total[7m] offset 3m)`,
		`quantile_over_time(0.9, http_requests_total[10m])`,
		`count_over_time(http_requests_total[1m])`,
		`http_requests_total @ 3600`,
	} {
		for _, step := range []time.Duration{15 * time.Second, 61 * time.Second} {
			t.Run(fmt.Sprint(q, " step ", step), func(t *testing.T) {
				want := rangeQuery(t, engine, ref, ctx, q, start, end, step)
				got := rangeQuery(t, engine, hearth, ctx, q, start, end, step)
				require.NotEmpty(t, want)
				requireSameMatrix(t, want, got)
			})
		}
	}
}

func rangeQuery(t testing.TB, engine promql.QueryEngine, q storage.Queryable, ctx context.Context, expr string, start, end time.Time, step time.Duration) promql.Matrix {
	t.Helper()
	qry, err := engine.NewRangeQuery(ctx, q, nil, expr, start, end, step)
	require.NoError(t, err)
	defer qry.Close()
	res := qry.Exec(ctx)
	require.NoError(t, res.Err)
	m, err := res.Matrix()
	require.NoError(t, err)
	// Close hands the points back to the engine's pools: keep a copy.
	out := make(promql.Matrix, len(m))
	for i, s := range m {
		out[i] = promql.Series{Metric: s.Metric, Floats: slices.Clone(s.Floats), Histograms: slices.Clone(s.Histograms)}
	}
	return out
}

// requireSameMatrix compares series by series, reporting the first
// difference only (whole matrices are too long to read).
func requireSameMatrix(t *testing.T, want, got promql.Matrix) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Metric, got[i].Metric)
		require.Len(t, got[i].Floats, len(want[i].Floats), "series %s", want[i].Metric)
		for j := range want[i].Floats {
			require.Equal(t, want[i].Floats[j], got[i].Floats[j], "series %s, point %d", want[i].Metric, j)
		}
		require.Equal(t, want[i].Histograms, got[i].Histograms)
	}
}
