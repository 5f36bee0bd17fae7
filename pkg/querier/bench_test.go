package querier

import (
	"context"
	"fmt"
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

// BenchmarkQuery compares Hearth's querier over three in-process gRPC
// ingesters (every series replicated to all three) with the Prometheus
// engine over a local head holding the same 10,000 series (15s samples over
// 1h10m).
func BenchmarkQuery(b *testing.B) {
	const nSeries, points = 10_000, 280
	ctx := tenant.WithID(context.Background(), "bench")
	c := newCluster(b, 3)
	ref := teststorage.New(b)
	app := ref.Appender(ctx)
	var req ingesterpb.PushRequest
	for s := range nSeries {
		lset := labels.FromStrings("__name__", "http_requests_total", "job", fmt.Sprint("job", s%100), "instance", fmt.Sprint("i", s))
		ts := ingesterpb.TimeSeries{Labels: toPairs(lset)}
		for p := range points {
			t, v := int64(p)*15_000, float64(p*(s%7+1))
			_, err := app.Append(0, lset, t, v)
			require.NoError(b, err)
			ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: t, Value: v})
		}
		req.Timeseries = append(req.Timeseries, ts)
		if len(req.Timeseries) == 500 {
			require.NoError(b, c.push(ctx, &req))
			req.Timeseries = nil
		}
	}
	require.NoError(b, app.Commit())
	engine := promqltest.NewTestEngine(b, false, 0, 100_000_000)
	end := time.UnixMilli(int64(points-1) * 15_000)
	const q = `sum by (job) (rate(http_requests_total[5m]))`

	for _, store := range []struct {
		name string
		q    storage.Queryable
	}{{"hearth", newTestQueryable(c)}, {"prometheus", ref}} {
		b.Run("instant/"+store.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runQuery(b, ctx, func() (promql.Query, error) {
					return engine.NewInstantQuery(ctx, store.q, nil, q, end)
				})
			}
		})
		b.Run("range_1h_step_15s/"+store.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runQuery(b, ctx, func() (promql.Query, error) {
					return engine.NewRangeQuery(ctx, store.q, nil, q, end.Add(-time.Hour), end, 15*time.Second)
				})
			}
		})
	}
}

func runQuery(b *testing.B, ctx context.Context, newQuery func() (promql.Query, error)) {
	qry, err := newQuery()
	require.NoError(b, err)
	res := qry.Exec(ctx)
	require.NoError(b, res.Err)
	require.NotEmpty(b, res.Value)
	qry.Close()
}
