package ingester

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// walBenchSeries is the number of series of BenchmarkWALReplay: 10,000 by
// default (make test runs every benchmark once), HEARTH_WAL_BENCH_SERIES
// for more (make bench-wal: 1,000,000).
func walBenchSeries(b *testing.B) int {
	b.Helper()
	v := os.Getenv("HEARTH_WAL_BENCH_SERIES")
	if v == "" {
		return 10_000
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, "HEARTH_WAL_BENCH_SERIES")
	return n
}

// BenchmarkWALReplay builds one tenant's WAL of N series with 4 samples
// each, 15s apart (one minute of scrapes, pushed 1,000 series per request),
// stops the ingester and measures its restart, which replays the WAL. It
// reports the replay time, the heap the replayed head holds per series
// (live heap after a GC, against the stopped ingester's), and the WAL's
// bytes on disk per series, for each WAL compression.
//
//	go test -run '^$' -bench BenchmarkWALReplay -benchtime=1x ./pkg/ingester/
//	HEARTH_WAL_BENCH_SERIES=1000000 make bench-wal
func BenchmarkWALReplay(b *testing.B) {
	n := walBenchSeries(b)
	for _, comp := range []string{"none", "snappy", "zstd"} {
		b.Run("compression="+comp, func(b *testing.B) {
			l := defaultLimits()
			l.MaxSeriesPerTenant, l.MaxSeriesPerMetric = 0, 0
			o := limits.NewOverrides(l)
			dir := b.TempDir()
			cfg := withConfig(func(c *Config) { c.WALCompression = comp })

			env := startIngester(b, dir, o, cfg)
			build := time.Now()
			writeWALBenchData(b, env.ing, n)
			buildTime := time.Since(build)
			env.stop()
			walBytes := dirSize(b, filepath.Join(dir, "bench", "wal"))

			var replay time.Duration
			var heap uint64
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				runtime.GC() // The second one frees what sync.Pools let go.
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				b.StartTimer()
				start := time.Now()
				env = startIngester(b, dir, o, cfg)
				replay = time.Since(start)
				b.StopTimer()
				runtime.GC()
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
				require.Equal(b, n, env.ing.dbs.get("bench").limiter.series())
				env.stop()
				b.StartTimer()
			}
			b.ReportMetric(replay.Seconds(), "replay-s")
			b.ReportMetric(float64(n)/replay.Seconds(), "series/s")
			b.ReportMetric(float64(heap)/float64(n), "heap-B/series")
			b.ReportMetric(float64(walBytes)/float64(n), "wal-B/series")
			b.ReportMetric(buildTime.Seconds(), "write-s")
		})
	}
}

// writeWALBenchData pushes n series × 4 samples, 15s apart, to tenant
// "bench", 1,000 series per push.
func writeWALBenchData(b *testing.B, ing *Ingester, n int) {
	b.Helper()
	const perPush = 1000
	ctx := ctxFor("bench")
	base := time.Now().Add(-time.Hour).UnixMilli()
	req := &ingesterpb.PushRequest{}
	for round := range 4 {
		ts := base + int64(round)*15_000
		for from := 0; from < n; from += perPush {
			req.Timeseries = req.Timeseries[:0]
			for k := from; k < min(from+perPush, n); k++ {
				s := series("__name__", "bench_metric_"+strconv.Itoa(k/1000)+"_total",
					"job", "bench", "instance", "10.0.0."+strconv.Itoa(k%251)+":9100",
					"series_id", strconv.Itoa(k), "method", "GET", "status", "200")
				s.Samples = []ingesterpb.Sample{{TimestampMs: ts, Value: float64(k + round)}}
				req.Timeseries = append(req.Timeseries, s)
			}
			resp, err := ing.Push(ctx, req)
			require.NoError(b, err)
			require.Empty(b, resp.Errors)
		}
	}
}

// dirSize is the bytes of the regular files under dir.
func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	require.NoError(b, filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	}))
	return n
}

// BenchmarkPushWAL measures what the WAL settings cost a push: 1,000
// existing series with one new sample each, per WAL compression, and with
// -ingester.wal-fsync (one fsync per push on the benchmark's disk; a
// sequential pusher shares no fsync, so this is the worst case per push).
//
//	go test -run '^$' -bench BenchmarkPushWAL -benchmem ./pkg/ingester/
func BenchmarkPushWAL(b *testing.B) {
	const perPush = 1000
	cases := []struct {
		compression string
		fsync       bool
	}{{"none", false}, {"snappy", false}, {"zstd", false}, {"snappy", true}}
	for _, tc := range cases {
		b.Run("compression="+tc.compression+"/fsync="+strconv.FormatBool(tc.fsync), func(b *testing.B) {
			env := startIngester(b, b.TempDir(), limits.NewOverrides(defaultLimits()),
				withConfig(func(c *Config) { c.WALCompression, c.WALFsync = tc.compression, tc.fsync }))
			ctx := ctxFor("bench")
			req := &ingesterpb.PushRequest{}
			for k := range perPush {
				s := series("__name__", "bench_metric_total", "job", "bench", "instance", "10.0.0."+strconv.Itoa(k%251)+":9100", "series_id", strconv.Itoa(k))
				s.Samples = []ingesterpb.Sample{{}}
				req.Timeseries = append(req.Timeseries, s)
			}
			ts := time.Now().Add(-time.Hour).UnixMilli()
			b.ReportAllocs()
			for b.Loop() {
				ts += 15_000
				for k := range req.Timeseries {
					req.Timeseries[k].Samples[0] = ingesterpb.Sample{TimestampMs: ts, Value: float64(ts + int64(k))}
				}
				resp, err := env.ing.Push(ctx, req)
				if err != nil || len(resp.Errors) > 0 {
					b.Fatal(err, resp.Errors)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perPush), "ns/sample")
		})
	}
}
