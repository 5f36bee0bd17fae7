package app

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// BenchmarkQueryLargeHead runs the loadgen's heavy range query (a
// histogram_quantile over 1,000 classic histograms, 12,000 bucket series)
// on the all-in-one's querier (the engine over the in-process ingester)
// and on Prometheus's engine over a TSDB holding the same samples, while
// both heads also hold HEARTH_BENCH_HEAD_SERIES other series (20,000 by
// default; issue #18's figures use 200,000): the query selects the same
// series whatever the head's size, so its cost should not grow with it.
//
//	HEARTH_BENCH_HEAD_SERIES=200000 go test -run '^$' -bench BenchmarkQueryLargeHead -benchtime=20x ./pkg/app/
func BenchmarkQueryLargeHead(b *testing.B) {
	const (
		histograms = 1000
		points     = 40 // 10 minutes at 15s
		step       = 15 * time.Second
	)
	background := 20_000
	if s := os.Getenv("HEARTH_BENCH_HEAD_SERIES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		background = n
	}
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}

	a := startBenchApp(b,
		"-ingester.max-series-per-tenant=0",
		"-ingester.max-series-per-metric=0",
		"-querier.max-series-per-query=0",
		"-querier.max-chunks-per-query=0",
	)

	ctx := tenant.WithID(context.Background(), "bench")
	ref := teststorage.New(b)
	end := time.Now().Truncate(step)
	start := end.Add(-time.Duration(points-1) * step)
	var series []labels.Labels
	for h := range histograms {
		for _, le := range les {
			series = append(series, labels.FromStrings("__name__", "classic0_bucket", "hist_id", strconv.Itoa(h), "job", "bench", "le", le))
		}
	}
	for s := range background {
		series = append(series, labels.FromStrings("__name__", "background_"+strconv.Itoa(s%100), "series_id", strconv.Itoa(s), "job", "bench"))
	}
	for p := range points {
		t := start.Add(time.Duration(p) * step).UnixMilli()
		app := ref.Appender(ctx)
		req := &ingesterpb.PushRequest{}
		for i, lset := range series {
			v := float64(p * (i%12 + 1))
			_, err := app.Append(0, lset, t, v)
			require.NoError(b, err)
			req.Timeseries = append(req.Timeseries, ingesterpb.TimeSeries{
				Labels:  ingesterpb.FromLabels(lset),
				Samples: []ingesterpb.Sample{{TimestampMs: t, Value: v}},
			})
			if len(req.Timeseries) == 5000 {
				_, err := a.ingester.Push(ctx, req)
				require.NoError(b, err)
				req = &ingesterpb.PushRequest{}
			}
		}
		if len(req.Timeseries) > 0 {
			_, err := a.ingester.Push(ctx, req)
			require.NoError(b, err)
		}
		require.NoError(b, app.Commit())
	}

	const q = `histogram_quantile(0.99, sum by (le) (rate(classic0_bucket[5m])))`
	peer := promql.NewEngine(promql.EngineOpts{MaxSamples: 100_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, sys := range []struct {
		name   string
		engine promql.QueryEngine
		q      storage.Queryable
	}{
		{"hearth", a.querier.Engine(), a.querier.Queryable()},
		{"prometheus", peer, ref},
	} {
		b.Run(sys.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				qry, err := sys.engine.NewRangeQuery(ctx, sys.q, nil, q, start, end, step)
				require.NoError(b, err)
				res := qry.Exec(ctx)
				require.NoError(b, res.Err)
				require.Len(b, res.Value.(promql.Matrix), 1)
				qry.Close()
			}
		})
	}
}
