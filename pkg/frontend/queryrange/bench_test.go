package queryrange

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/teststorage"
	v1 "github.com/prometheus/prometheus/web/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/frontend/queryrange/queryrangetest"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// benchStorage writes n counters (job j0..j9, instance, pod) with a sample
// every interval over span, in time order.
func benchStorage(b *testing.B, n int, span, interval time.Duration) storage.Queryable {
	b.Helper()
	st := teststorage.New(b, func(o *tsdb.Options) { o.EnableSharding = true })
	lsets := make([]labels.Labels, n)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "http_requests_total", "job", fmt.Sprintf("j%d", i%10), "instance", fmt.Sprintf("i%d", i%500), "pod", fmt.Sprintf("p%d", i))
	}
	refs := make([]storage.SeriesRef, n)
	for ts := time.Duration(0); ts <= span; ts += interval {
		app := st.Appender(context.Background())
		for i, l := range lsets {
			ref, err := app.Append(refs[i], l, ts.Milliseconds(), float64(int(ts/interval)*(1+i%7)))
			require.NoError(b, err)
			refs[i] = ref
		}
		require.NoError(b, app.Commit())
	}
	return queryrangetest.ShardingWithHints(st)
}

// BenchmarkShardedAggregation runs a heavy aggregation over 100,000 series
// (a 1h range query at 1m) sharded and unsharded, against the in-process
// engine. Besides the wall time it reports cpu-s/op, the process's CPU
// time per query (user and system), which other processes on the machine
// do not inflate: sharded ÷ unsharded wall time on N free cores is about
// max(cpu-s/op sharded ÷ N, one shard's share) ÷ cpu-s/op unsharded.
func BenchmarkShardedAggregation(b *testing.B) {
	st := benchStorage(b, 100_000, time.Hour, time.Minute)
	for _, tc := range []struct{ shards, parallelism int }{{0, 14}, {16, 14}, {16, 1}, {4, 14}, {2, 14}, {2, 1}} {
		b.Run(fmt.Sprintf("shards=%d/parallelism=%d", tc.shards, tc.parallelism), func(b *testing.B) {
			e := newTestEnv(b, testEnvOpts{
				storages: map[tenant.ID]storage.Queryable{"a": st},
				cfg:      func(c *Config) { c.CacheResults = false },
				limits: func(l *limits.Limits) {
					l.QueryShardingTotalShards = tc.shards
					l.MaxQueryParallelism = tc.parallelism
				},
			})
			e.now = time.Unix(0, 0).Add(2 * time.Hour)
			form := rangeForm(`sum by (job) (rate(http_requests_total[5m]))`, 10*time.Minute, time.Hour, time.Minute)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				if status, body := e.do("a", "/api/v1/query_range", form, nil); status != http.StatusOK {
					b.Fatalf("%d: %s", status, body)
				}
			}
			b.ReportMetric((processCPU(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchMatrix is n series of points float samples at 1m, with the
// loadgen's label set size.
func benchMatrix(n, points int) promql.Matrix {
	m := make(promql.Matrix, n)
	for i := range m {
		s := promql.Series{Metric: labels.FromStrings("__name__", "http_requests_total", "job", fmt.Sprintf("j%d", i%10), "instance", fmt.Sprintf("i%d", i%500), "pod", fmt.Sprintf("p%d", i))}
		s.Floats = make([]promql.FPoint, points)
		for k := range s.Floats {
			s.Floats[k] = promql.FPoint{T: 1_700_000_000_000 + int64(k)*60_000, F: float64(k*(1+i%7)) / 3}
		}
		m[i] = s
	}
	return m
}

// BenchmarkResultCodecs measures each encoding a range query's result
// goes through in the frontend, over a day of 500 series at 1m (720,000
// points): reading the querier's answer (Prometheus's JSON or the binary
// form), writing the client's JSON, and a results-cache entry's round
// trip.
func BenchmarkResultCodecs(b *testing.B) {
	m := benchMatrix(500, 1440)
	jsonBody, err := v1.JSONCodec{}.Encode(&v1.Response{Status: "success", Data: &v1.QueryData{ResultType: m.Type(), Result: m}})
	require.NoError(b, err)
	binBody, err := resultpb.Append(nil, m, nil, nil)
	require.NoError(b, err)
	resp, err := decodeBinaryBody(binBody)
	require.NoError(b, err)
	entry := &cacheEntry{Key: "k", Extents: []*extent{{Start: 0, End: 1, Matrix: resp.Matrix}}}
	raw, err := encodeEntry(entry)
	require.NoError(b, err)
	for _, bc := range []struct {
		name  string
		bytes int
		run   func() error
	}{
		{"decode-json", len(jsonBody), func() error { _, err := decodeResponseBody(jsonBody); return err }},
		{"decode-binary", len(binBody), func() error { _, err := decodeBinaryBody(binBody); return err }},
		{"encode-json", len(jsonBody), func() error { _, err := resp.encode(); return err }},
		{"cache-encode", len(raw), func() error { _, err := encodeEntry(entry); return err }},
		{"cache-decode", len(raw), func() error { _, err := decodeEntry(raw); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(bc.bytes))
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
