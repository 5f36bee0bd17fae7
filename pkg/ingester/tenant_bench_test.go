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
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// BenchmarkTenantOverhead measures what a tenant costs an ingester before
// it has data worth the name: it opens 100 tenants with one series (one
// sample) each and reports the live heap they hold per tenant (after a GC,
// against the running ingester's before the first push) and the
// goroutines per tenant.
//
//	go test -run '^$' -bench BenchmarkTenantOverhead -benchtime=1x -count=6 ./pkg/ingester/
func BenchmarkTenantOverhead(b *testing.B) {
	const tenants = 100
	cases := []struct {
		maxExemplars int
		stripeSize   int
	}{
		{100000, 16384},
		{0, 16384},
		{0, 4096},
		{0, 1024},
		{0, 256},
		{0, 64},
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("max-exemplars=%d/stripe-size=%d", tc.maxExemplars, tc.stripeSize), func(b *testing.B) {
			l := defaultLimits()
			l.MaxExemplars = tc.maxExemplars
			o := limits.NewOverrides(l)
			cfg := withConfig(func(c *Config) { c.TSDBStripeSize = tc.stripeSize })
			var heap uint64
			var goroutines int
			for b.Loop() {
				b.StopTimer()
				env := startIngester(b, b.TempDir(), o, cfg)
				before := liveMemory()
				b.StartTimer()
				pushTenants(b, env.ing, tenants)
				b.StopTimer()
				after := liveMemory()
				heap = after.heap - min(after.heap, before.heap)
				goroutines = after.goroutines - before.goroutines
				require.Len(b, env.ing.snapshot(), tenants)
				env.stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/tenants, "B/tenant")
			b.ReportMetric(float64(goroutines)/tenants, "goroutines/tenant")
		})
	}
}

// pushTenants pushes one sample of one series to each of n tenants,
// opening their TSDBs.
func pushTenants(b *testing.B, ing *Ingester, n int) {
	b.Helper()
	ts := time.Now().UnixMilli()
	for k := range n {
		req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{
			withSamples(series("__name__", "up", "job", "bench"), ingesterpb.Sample{TimestampMs: ts, Value: 1}),
		}}
		resp, err := ing.Push(ctxFor("tenant-"+strconv.Itoa(k)), req)
		require.NoError(b, err)
		require.Empty(b, resp.Errors)
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
