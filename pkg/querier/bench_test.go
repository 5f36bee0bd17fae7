package querier

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/pebble"
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
	var flush []chunk.SeriesChunks
	for s := range nSeries {
		lset := labels.FromStrings("__name__", "http_requests_total", "job", fmt.Sprint("job", s%100), "instance", fmt.Sprint("i", s))
		ts := ingesterpb.TimeSeries{Labels: toPairs(lset)}
		var smp []sample
		for p := range points {
			t, v := int64(p)*15_000, float64(p*(s%7+1))
			_, err := app.Append(0, lset, t, v)
			require.NoError(b, err)
			ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: t, Value: v})
			smp = append(smp, sample{t, v})
		}
		flush = append(flush, chunk.SeriesChunks{Labels: lset, Chunks: encodeChunks(b, smp)})
		req.Timeseries = append(req.Timeseries, ts)
		if len(req.Timeseries) == 500 {
			require.NoError(b, c.push(ctx, &req))
			req.Timeseries = nil
		}
	}
	require.NoError(b, app.Commit())

	// Both stores read one Pebble database; data from 1970 is in cacheable
	// buckets, and the ingesters are never asked for it.
	o := pebble.DefaultOptions()
	o.Dir, o.NoSync = b.TempDir(), true
	backend, err := pebble.Open(o, nil)
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, backend.Close()) })
	cached := newStore(b, backend)
	_, err = cached.WriteSeries(ctx, "bench", flush)
	require.NoError(b, err)
	noCacheOpts := chunk.DefaultOptions()
	noCacheOpts.IndexCacheBytes, noCacheOpts.ChunkCacheBytes = 0, 0
	uncached, err := chunk.New(backend, noCacheOpts, nil, prometheus.NewRegistry())
	require.NoError(b, err)
	storeQ, _ := testQueryable(nil, cached, nil, time.Now())
	storeNoCacheQ, _ := testQueryable(nil, uncached, nil, time.Now())

	engine := promqltest.NewTestEngine(b, false, 0, 100_000_000)
	end := time.UnixMilli(int64(points-1) * 15_000)
	const q = `sum by (job) (rate(http_requests_total[5m]))`

	for _, store := range []struct {
		name string
		q    storage.Queryable
	}{{"hearth", newTestQueryable(c)}, {"store", storeQ}, {"store_nocache", storeNoCacheQ}, {"prometheus", ref}} {
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
