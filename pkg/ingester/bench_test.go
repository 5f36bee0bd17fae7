package ingester

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// BenchmarkPush measures Push (without gRPC) of 100 series with one sample
// each, into series that exist and into new ones. Label strings alias one
// reused byte buffer, as the zero-copy decoder's do.
//
//	go test -run '^$' -bench BenchmarkPush -benchmem ./pkg/ingester/
func BenchmarkPush(b *testing.B) {
	const seriesPerPush = 100
	const slot = 20 // bytes per series id in buf
	for _, newSeries := range []bool{false, true} {
		name := "existing series"
		if newSeries {
			name = "new series"
		}
		b.Run(name, func(b *testing.B) {
			l := defaultLimits()
			l.MaxSeriesPerTenant, l.MaxSeriesPerMetric = 0, 0
			env := startIngester(b, b.TempDir(), limits.NewOverrides(l))
			ctx := ctxFor("bench")

			buf := make([]byte, seriesPerPush*slot)
			setID := func(k int, id int64) string {
				s := buf[k*slot : k*slot : (k+1)*slot]
				s = strconv.AppendInt(s, id, 10)
				return unsafe.String(&buf[k*slot], len(s))
			}
			req := &ingesterpb.PushRequest{}
			for k := range seriesPerPush {
				ts := series("__name__", "http_requests_total", "job", "api", "instance", "10.0.0.1:9090", "method", "GET", "status", "200", "id", "")
				ts.Labels[5].Value = setID(k, int64(k))
				ts.Samples = []ingesterpb.Sample{{}}
				req.Timeseries = append(req.Timeseries, ts)
			}
			next := int64(seriesPerPush)
			var t int64
			b.ReportAllocs()
			for b.Loop() {
				t += 15000
				for k := range req.Timeseries {
					req.Timeseries[k].Samples[0] = ingesterpb.Sample{TimestampMs: t, Value: float64(t)}
					if newSeries {
						req.Timeseries[k].Labels[5].Value = setID(k, next)
						next++
					}
				}
				resp, err := env.ing.Push(ctx, req)
				if err != nil || len(resp.Errors) > 0 {
					b.Fatalf("push: %v %v", err, resp)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*seriesPerPush), "ns/sample")
		})
	}
}

// BenchmarkPushLargeHead measures Push of 1,000 existing series with one
// sample each into a head of 200,000 series (bench.sh's scenario 1), the
// pushes walking through the head: unlike BenchmarkPush's 100 series, the
// head's series and maps are not in the CPU cache, so each lookup of a
// series costs what it costs the real ingester. It reports the heap held
// per series too.
//
//	go test -run '^$' -bench BenchmarkPushLargeHead -count=6 ./pkg/ingester/
func BenchmarkPushLargeHead(b *testing.B) {
	const (
		headSeries    = 200_000
		seriesPerPush = 1000
		pushes        = headSeries / seriesPerPush
	)
	l := defaultLimits()
	l.MaxSeriesPerTenant, l.MaxSeriesPerMetric = 0, 0
	env := startIngester(b, b.TempDir(), limits.NewOverrides(l))
	ctx := ctxFor("bench")
	reqs := make([]*ingesterpb.PushRequest, pushes)
	for p := range reqs {
		req := &ingesterpb.PushRequest{}
		for k := range seriesPerPush {
			id := p*seriesPerPush + k
			ts := series("__name__", "bench_requests_total", "cluster", "eu-west-1", "instance", fmt.Sprintf("10.0.%d.%d:9100", id/256%256, id%256),
				"job", "node", "method", "GET", "path", "/api/v1/items", "shard", strconv.Itoa(id/65536), "status", "200")
			ts.Samples = []ingesterpb.Sample{{}}
			req.Timeseries = append(req.Timeseries, ts)
		}
		reqs[p] = req
	}
	t := time.Now().Add(-time.Hour).UnixMilli()
	push := func(req *ingesterpb.PushRequest) {
		for k := range req.Timeseries {
			req.Timeseries[k].Samples[0] = ingesterpb.Sample{TimestampMs: t, Value: float64(t)}
		}
		resp, err := env.ing.Push(ctx, req)
		if err != nil || len(resp.Errors) > 0 {
			b.Fatalf("push: %v %v", err, resp)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // The second one frees what sync.Pools let go.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for _, req := range reqs {
		push(req)
	}
	created := heap()
	b.ReportAllocs()
	n := 0
	cpu := cpuTime()
	for b.Loop() {
		if n%pushes == 0 {
			t++
		}
		push(reqs[n%pushes])
		n++
	}
	// The process's CPU time (GC included) tells more than the wall time
	// on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N*seriesPerPush), "cpu-ns/sample")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*seriesPerPush), "ns/sample")
	// The heap the head and the ingester hold per series, each with one
	// sample.
	b.ReportMetric(float64(created-min(created, before))/headSeries, "heap-B/series")
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestConcurrentPushAndQuery reads chunks while they are appended to; run
// with -race it proves head chunks are copied safely.
func TestConcurrentPushAndQuery(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	const rounds = 200
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for r := range rounds {
			var ts []ingesterpb.TimeSeries
			for s := range 10 {
				ts = append(ts, withSamples(series("__name__", "m", "job", fmt.Sprint(s)), ingesterpb.Sample{TimestampMs: int64(r) * 1000, Value: float64(r)}))
			}
			resp, err := env.client.Push(ctxFor("t"), &ingesterpb.PushRequest{Timeseries: ts})
			if !assertNoErr(t, err) || len(resp.Errors) > 0 {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range rounds / 4 {
			stream, err := env.client.QueryStream(ctxFor("t"), allSeries())
			if !assertNoErr(t, err) {
				return
			}
			for {
				msg, err := stream.Recv()
				if err != nil {
					break
				}
				for _, s := range msg.Series {
					for _, c := range s.Chunks {
						chk, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
						if !assertNoErr(t, err) {
							return
						}
						it := chk.Iterator(nil)
						for it.Next() != chunkenc.ValNone {
						}
						if !assertNoErr(t, it.Err()) {
							return
						}
					}
				}
			}
		}
	}()
	wg.Wait()
	got, _ := queryAll(t, env, "t", allSeries())
	require.Len(t, got, 10)
	require.Len(t, got["m/3"].samples, rounds)
}

// assertNoErr reports err from a goroutine other than the test's.
func assertNoErr(t *testing.T, err error) bool {
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}
