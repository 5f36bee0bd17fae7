package ingester

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// BenchmarkTenantOverhead measures what a tenant costs an ingester before
// it has data worth the name: it opens 100 tenants with one series each and
// reports the live heap they hold per tenant (after a GC, against the
// running ingester's before the first push) and the goroutines per tenant.
// The series has one sample, or 300 with its first chunk written to the
// chunk file (m-mapped), as after ~30 min of scrapes every 15s; with
// exemplars, the tenant sent one.
//
//	go test -run '^$' -bench BenchmarkTenantOverhead -benchtime=1x -count=6 ./pkg/ingester/
func BenchmarkTenantOverhead(b *testing.B) {
	const tenants = 100
	cases := []struct {
		stripes     int
		writeBuffer int // head chunks write buffer
		exemplars   bool
		mmapped     bool
	}{
		// What every tenant cost before exemplar buffers were allocated
		// on the first exemplars (one sample; then with its first chunk).
		{16384, 4 << 20, true, false},
		{16384, 4 << 20, true, true},
		// A tenant without exemplars, at the TSDB's defaults.
		{16384, 4 << 20, false, false},
		{16384, 4 << 20, false, true},
		// Stripes.
		{4096, 64 << 10, false, true},
		{1024, 64 << 10, false, true},
		{256, 64 << 10, false, true},
		{64, 64 << 10, false, true},
		// Head chunks write buffer.
		{1024, 256 << 10, false, true},
		{1024, 1 << 20, false, true},
		{1024, 4 << 20, false, true},
		// The defaults (1024 stripes, 64 KiB; m-mapped without exemplars
		// above).
		{defaultStripeSize(), headChunksWriteBuffer, false, false},
		{defaultStripeSize(), headChunksWriteBuffer, true, false},
		{defaultStripeSize(), headChunksWriteBuffer, true, true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("stripe-size=%d/write-buffer=%dKiB/exemplars=%t/mmapped=%t", tc.stripes, tc.writeBuffer>>10, tc.exemplars, tc.mmapped)
		b.Run(name, func(b *testing.B) {
			o := limits.NewOverrides(defaultLimits())
			opts := []envOption{
				withConfig(func(c *Config) { c.TSDBStripeSize = tc.stripes }),
				withHeadChunksWriteBuffer(tc.writeBuffer),
			}
			var heap uint64
			var goroutines int
			for b.Loop() {
				b.StopTimer()
				env := startIngester(b, b.TempDir(), o, opts...)
				before := liveMemory()
				b.StartTimer()
				pushTenants(b, env.ing, tenants, tc.exemplars, tc.mmapped)
				b.StopTimer()
				after := liveMemory()
				heap = after.heap - min(after.heap, before.heap)
				goroutines = after.goroutines - before.goroutines
				require.Len(b, env.ing.dbs.snapshot(), tenants)
				env.stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/tenants, "B/tenant")
			b.ReportMetric(float64(goroutines)/tenants, "goroutines/tenant")
		})
	}
}

// defaultStripeSize is -ingester.tsdb-stripe-size's default.
func defaultStripeSize() int { return defaultConfig("x").TSDBStripeSize }

func withHeadChunksWriteBuffer(n int) envOption {
	return func(_ *Deps, i *Ingester) {
		if i != nil {
			i.dbs.headChunksWriteBufferSize = n
		}
	}
}

// pushTenants pushes one series to each of n tenants, opening their TSDBs:
// one sample, or 300 samples 1s apart with the first chunk m-mapped; with
// exemplars, one exemplar.
func pushTenants(b *testing.B, ing *Ingester, n int, exemplars, mmapped bool) {
	b.Helper()
	ts := time.Now().Add(-time.Hour).UnixMilli()
	s := withSamples(series("__name__", "up", "job", "bench"), ingesterpb.Sample{TimestampMs: ts, Value: 1})
	if mmapped {
		for k := range int64(299) {
			s.Samples = append(s.Samples, ingesterpb.Sample{TimestampMs: ts + (k+1)*1000, Value: 1})
		}
	}
	if exemplars {
		s.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "abc"}}, Value: 1, TimestampMs: ts}}
	}
	req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{s}}
	for k := range n {
		id := "tenant-" + strconv.Itoa(k)
		resp, err := ing.Push(ctxFor(id), req)
		require.NoError(b, err)
		require.Empty(b, resp.Errors)
		if mmapped {
			ing.dbs.get(tenant.ID(id)).db.ForceHeadMMap()
		}
	}
}

// BenchmarkHeadChunksWrite measures what the head chunks write buffer
// costs the writing of full chunks to a tenant's chunk files: 10,000
// series get 130 more samples each (not timed), then one m-map pass writes
// their full chunks (timed), as the TSDB does every minute.
//
//	go test -run '^$' -bench BenchmarkHeadChunksWrite -benchtime=20x -count=6 ./pkg/ingester/
func BenchmarkHeadChunksWrite(b *testing.B) {
	const nSeries, perRound, perPush = 10_000, 130, 500
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("write-buffer=%dKiB", size>>10), func(b *testing.B) {
			l := defaultLimits()
			l.MaxSeriesPerTenant, l.MaxSeriesPerMetric = 0, 0
			env := startIngester(b, b.TempDir(), limits.NewOverrides(l), withHeadChunksWriteBuffer(size))
			ctx := ctxFor("bench")
			ts := time.Now().Add(-6 * time.Hour).UnixMilli()
			reqs := make([]*ingesterpb.PushRequest, nSeries/perPush)
			for k := range reqs {
				reqs[k] = &ingesterpb.PushRequest{}
				for j := range perPush {
					s := series("__name__", "bench_metric_total", "job", "bench", "series_id", strconv.Itoa(k*perPush+j))
					s.Samples = make([]ingesterpb.Sample, perRound)
					reqs[k].Timeseries = append(reqs[k].Timeseries, s)
				}
			}
			var chunks float64
			for b.Loop() {
				b.StopTimer()
				for _, req := range reqs {
					for j := range req.Timeseries {
						for r := range req.Timeseries[j].Samples {
							req.Timeseries[j].Samples[r] = ingesterpb.Sample{TimestampMs: ts + int64(r)*1000, Value: float64(r)}
						}
					}
					resp, err := env.ing.Push(ctx, req)
					require.NoError(b, err)
					require.Empty(b, resp.Errors)
				}
				ts += perRound * 1000
				tdb := env.ing.dbs.get("bench")
				before := metricValue(b, tdb.reg, "prometheus_tsdb_mmap_chunks_total")
				b.StartTimer()
				tdb.db.ForceHeadMMap()
				b.StopTimer()
				chunks += metricValue(b, tdb.reg, "prometheus_tsdb_mmap_chunks_total") - before
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/chunks, "ns/chunk")
		})
	}
}

type memory struct {
	heap       uint64
	goroutines int
}

// liveMemory returns the live heap (after a GC) and the number of
// goroutines.
func liveMemory() memory {
	runtime.GC()
	runtime.GC() // The second one frees what sync.Pools let go.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

// BenchmarkPushParallel measures what the head's stripe count costs one
// large tenant: concurrent pushers (4 per GOMAXPROCS) each push 100 series
// of their own with one sample, to existing series and to new ones, for
// each -ingester.tsdb-stripe-size. Fewer stripes mean more pushers taking
// the same stripe lock. The first push of each pusher creates its series.
//
//	go test -run '^$' -bench BenchmarkPushParallel -count=6 ./pkg/ingester/
//	go test -run '^$' -bench BenchmarkPushParallel -count=6 -cpu=2,8 ./pkg/ingester/
func BenchmarkPushParallel(b *testing.B) {
	const seriesPerPush = 100
	for _, newSeries := range []bool{false, true} {
		for _, stripes := range []int{16384, 4096, 1024, 256, 64, 16} {
			name := fmt.Sprintf("existing series/stripe-size=%d", stripes)
			if newSeries {
				name = fmt.Sprintf("new series/stripe-size=%d", stripes)
			}
			b.Run(name, func(b *testing.B) {
				l := defaultLimits()
				l.MaxSeriesPerTenant, l.MaxSeriesPerMetric = 0, 0
				env := startIngester(b, b.TempDir(), limits.NewOverrides(l),
					withConfig(func(c *Config) { c.TSDBStripeSize = stripes }))
				ctx := ctxFor("bench")
				var pushers atomic.Int64
				// One clock for every pusher, 1ms a push: the head refuses
				// samples an hour older than its newest one.
				var clock atomic.Int64
				clock.Store(time.Now().Add(-time.Hour).UnixMilli())
				b.SetParallelism(4)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					p := strconv.FormatInt(pushers.Add(1), 10)
					req := &ingesterpb.PushRequest{}
					for k := range seriesPerPush {
						s := series("__name__", "http_requests_total", "job", "api", "instance", "10.0.0."+p+":9090", "series_id", strconv.Itoa(k))
						s.Samples = []ingesterpb.Sample{{}}
						req.Timeseries = append(req.Timeseries, s)
					}
					next := seriesPerPush
					for pb.Next() {
						ts := clock.Add(1)
						for k := range req.Timeseries {
							req.Timeseries[k].Samples[0] = ingesterpb.Sample{TimestampMs: ts, Value: float64(ts)}
							if newSeries {
								req.Timeseries[k].Labels[3].Value = strconv.Itoa(next)
								next++
							}
						}
						resp, err := env.ing.Push(ctx, req)
						if err != nil || len(resp.Errors) > 0 {
							b.Errorf("push: %v %v", err, resp)
							return
						}
					}
				})
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*seriesPerPush), "ns/sample")
			})
		}
	}
}
