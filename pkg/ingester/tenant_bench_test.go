package ingester

import (
	"runtime"
	"strconv"
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
		name         string
		maxExemplars int
	}{
		{"max-exemplars=100000", 100000},
		{"max-exemplars=0", 0},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			l := defaultLimits()
			l.MaxExemplars = tc.maxExemplars
			o := limits.NewOverrides(l)
			var heap uint64
			var goroutines int
			for b.Loop() {
				b.StopTimer()
				env := startIngester(b, b.TempDir(), o)
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
