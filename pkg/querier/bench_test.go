package querier

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
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

// BenchmarkMergeChunks merges three replicas of one series (4 chunks of
// 120 samples each) and reads every sample: identical replicas, the usual
// case, collapse to one; replicas that missed different samples are
// merged sample by sample.
func BenchmarkMergeChunks(b *testing.B) {
	full := series(0, 480*15_000, 15_000)
	lset := labels.FromStrings("__name__", "up", "job", "api")
	for name, replicas := range map[string][][]Chunk{
		"identical": {xorChunks(b, full, 120), xorChunks(b, full, 120), xorChunks(b, full, 120)},
		"different": {
			xorChunks(b, series(0, 480*15_000, 15_000, 0), 120),
			xorChunks(b, series(0, 480*15_000, 15_000, 15_000), 120),
			xorChunks(b, series(0, 480*15_000, 15_000, 30_000), 120),
		},
	} {
		var chunks []Chunk
		for _, r := range replicas {
			chunks = append(chunks, r...)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var it chunkenc.Iterator
			var buf []Chunk // MergeChunks sorts and compacts in place.
			for b.Loop() {
				buf = append(buf[:0], chunks...)
				it = MergeChunks(lset, buf, math.MinInt64, math.MaxInt64).Iterator(it)
				n := 0
				for it.Next() != chunkenc.ValNone {
					n++
				}
				if n != len(full) {
					b.Fatalf("read %d samples, want %d", n, len(full))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(full)), "ns/sample")
		})
	}
}

// BenchmarkMergeReplicas gathers three ingesters' answers of 10,000 series
// each (batches of 128, as ingesters send them) into one entry per series.
func BenchmarkMergeReplicas(b *testing.B) {
	const nSeries = 10_000
	answer := func() [][]ingesterpb.ChunkSeries {
		var msgs [][]ingesterpb.ChunkSeries
		var msg []ingesterpb.ChunkSeries
		for s := range nSeries {
			msg = append(msg, ingesterpb.ChunkSeries{
				Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "http_requests_total"}, {Name: "instance", Value: fmt.Sprint("i", s)}, {Name: "job", Value: fmt.Sprint("job", s%100)}},
				Chunks: []ingesterpb.Chunk{{MinTimeMs: 0, MaxTimeMs: 1, Encoding: ingesterpb.Chunk_ENCODING_XOR, Data: []byte{0}}},
			})
			if len(msg) == 128 {
				msgs, msg = append(msgs, msg), nil
			}
		}
		return append(msgs, msg)
	}
	answers := [][][]ingesterpb.ChunkSeries{answer(), answer(), answer()}
	b.ReportAllocs()
	for b.Loop() {
		out, _, _, err := mergeReplicas(answers, hashPairs)
		if err != nil || len(out) != nSeries {
			b.Fatal(len(out), err)
		}
	}
}

// BenchmarkQueryCostAccounting prices the engine's query-cost accounting,
// which the samples-read limit needs (see tenantEngine): a 1h range query
// over 2,000 series on a local head, with and without it.
func BenchmarkQueryCostAccounting(b *testing.B) {
	ref := teststorage.New(b)
	app := ref.Appender(context.Background())
	for s := range 2000 {
		lset := labels.FromStrings("__name__", "m", "job", fmt.Sprint(s%10), "i", fmt.Sprint(s))
		for p := range 280 {
			_, err := app.Append(0, lset, int64(p)*15_000, float64(p))
			require.NoError(b, err)
		}
	}
	require.NoError(b, app.Commit())
	end := time.UnixMilli(279 * 15_000)
	cfg := Config{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, MaxConcurrent: 10}
	for _, cost := range []bool{false, true} {
		engine := promql.NewEngine(EngineOpts(cfg, nil, nil, newConcurrencyLimiter(cfg.MaxConcurrent), cost))
		b.Run(fmt.Sprint("query_cost=", cost), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				runQuery(b, ctx, func() (promql.Query, error) {
					return engine.NewRangeQuery(ctx, ref, nil, `sum by (job) (rate(m[5m]))`, end.Add(-time.Hour), end, 15*time.Second)
				})
			}
		})
	}
}
