package ingester

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestPushCopiesLabelsOfNewSeries pushes series whose strings alias one byte
// buffer, as a zero-copy decoder produces, scribbles over the buffer, and
// checks the stored labels, exemplar labels and metadata are intact. Two new
// series in one request also prove the reused label buffer is not kept.
func TestPushCopiesLabelsOfNewSeries(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	const text = "__name__upjobapidbtrace_idabcthe help"
	buf := []byte(text)
	alias := func(s string) string {
		off := strings.Index(text, s)
		require.GreaterOrEqual(t, off, 0)
		return unsafe.String(&buf[off], len(s))
	}
	request := func(ts int64) *ingesterpb.PushRequest {
		a := ingesterpb.TimeSeries{
			Labels:    []ingesterpb.LabelPair{{Name: alias("__name__"), Value: alias("up")}, {Name: alias("job"), Value: alias("api")}},
			Samples:   []ingesterpb.Sample{{TimestampMs: ts, Value: 1}},
			Exemplars: []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: alias("trace_id"), Value: alias("abc")}}, Value: 1, TimestampMs: ts}},
		}
		b := ingesterpb.TimeSeries{
			Labels:  []ingesterpb.LabelPair{{Name: alias("__name__"), Value: alias("up")}, {Name: alias("job"), Value: alias("db")}},
			Samples: []ingesterpb.Sample{{TimestampMs: ts, Value: 2}},
		}
		return &ingesterpb.PushRequest{
			Timeseries: []ingesterpb.TimeSeries{a, b},
			Metadata:   []ingesterpb.MetricMetadata{{MetricFamilyName: alias("up"), Help: alias("the help")}},
		}
	}
	scribble := func() {
		for k := range buf {
			buf[k] = 'X'
		}
	}
	check := func(wantSamples int) {
		t.Helper()
		got, _ := queryAll(t, env, "t", allSeries())
		require.Len(t, got, 2)
		require.Equal(t, map[string]string{"__name__": "up", "job": "api"}, got["up/api"].labels)
		require.Equal(t, map[string]string{"__name__": "up", "job": "db"}, got["up/db"].labels)
		require.Len(t, got["up/api"].samples, wantSamples)
		ex, err := env.client.QueryExemplars(ctxFor("t"), &ingesterpb.ExemplarQueryRequest{StartMs: 0, EndMs: 10000, MatcherSets: []ingesterpb.MatcherSet{
			{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "api"}}},
		}})
		require.NoError(t, err)
		require.Len(t, ex.Series, 1)
		require.Equal(t, []ingesterpb.LabelPair{{Name: "trace_id", Value: "abc"}}, ex.Series[0].Exemplars[0].Labels)
		md, err := env.client.MetricMetadata(ctxFor("t"), &ingesterpb.MetricMetadataRequest{})
		require.NoError(t, err)
		require.Equal(t, []ingesterpb.MetricMetadata{{MetricFamilyName: "up", Help: "the help"}}, md.Metadata)
	}

	// New series: their labels must be copied.
	resp, err := env.ing.Push(ctxFor("t"), request(1000))
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
	scribble()
	check(1)

	// Existing series: found by their labels, not copied, not duplicated.
	copy(buf, text)
	resp, err = env.ing.Push(ctxFor("t"), request(2000))
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
	scribble()
	check(2)
	stats, err := env.client.TenantStats(ctxFor("t"), &ingesterpb.TenantStatsRequest{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), stats.Stats.NumSeries)
}

func TestRestartReplaysWAL(t *testing.T) {
	dir := t.TempDir()
	env := startIngester(t, dir, limits.NewOverrides(defaultLimits()))
	push(t, env, "team-a",
		withSamples(series("__name__", "up", "job", "a"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}, ingesterpb.Sample{TimestampMs: 2000, Value: 2}),
		withSamples(series("__name__", "up", "job", "b"), ingesterpb.Sample{TimestampMs: 1000, Value: 3}))
	push(t, env, "team-b", withSamples(series("__name__", "up", "job", "a"), ingesterpb.Sample{TimestampMs: 1000, Value: 4}))
	env.stop()

	// Stricter limits after the restart must not drop replayed series.
	l := defaultLimits()
	l.MaxSeriesPerTenant = 1
	env = startIngester(t, dir, limits.NewOverrides(l))
	// Running means replayed: no waiting.
	a, _ := queryAll(t, env, "team-a", allSeries())
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}, {TimestampMs: 2000, Value: 2}}, a["up/a"].samples)
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 3}}, a["up/b"].samples)
	b, _ := queryAll(t, env, "team-b", allSeries())
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 4}}, b["up/a"].samples)

	require.NoError(t, testutil.GatherAndCompare(env.reg, strings.NewReader(`
# HELP hearth_ingester_memory_series Series in the ingester's in-memory heads.
# TYPE hearth_ingester_memory_series gauge
hearth_ingester_memory_series{tenant="team-a"} 2
hearth_ingester_memory_series{tenant="team-b"} 1
# HELP hearth_ingester_memory_tenants Tenants with an open TSDB in the ingester.
# TYPE hearth_ingester_memory_tenants gauge
hearth_ingester_memory_tenants 2
`), "hearth_ingester_memory_series", "hearth_ingester_memory_tenants"))

	// The limit holds for new series.
	resp := push(t, env, "team-a", withSamples(series("__name__", "up", "job", "c"), ingesterpb.Sample{TimestampMs: 3000, Value: 1}))
	require.Len(t, resp.Errors, 1)
	require.Equal(t, "per_tenant_series_limit", resp.Errors[0].Reason)
}

func TestMetrics(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	resp := push(t, env, "t",
		withSamples(series("__name__", "up", "job", "a"), ingesterpb.Sample{TimestampMs: 2000, Value: 1}, ingesterpb.Sample{TimestampMs: 1000, Value: 1}),
		withSamples(series("__name__", "up", "job", "b"), ingesterpb.Sample{TimestampMs: 2000, Value: 1}))
	require.Len(t, resp.Errors, 1)

	require.NoError(t, testutil.GatherAndCompare(env.reg, strings.NewReader(`
# HELP hearth_ingester_append_failures_total Samples, histograms, exemplars and metadata the ingester refused, by reason.
# TYPE hearth_ingester_append_failures_total counter
hearth_ingester_append_failures_total{reason="sample_out_of_order",tenant="t"} 1
# HELP hearth_ingester_ingested_samples_total Float samples appended to the heads.
# TYPE hearth_ingester_ingested_samples_total counter
hearth_ingester_ingested_samples_total{tenant="t"} 2
# HELP hearth_ingester_memory_series Series in the ingester's in-memory heads.
# TYPE hearth_ingester_memory_series gauge
hearth_ingester_memory_series{tenant="t"} 2
`), "hearth_ingester_append_failures_total", "hearth_ingester_ingested_samples_total", "hearth_ingester_memory_series"))

	// The tenant's private TSDB registry shows through, renamed.
	require.NoError(t, testutil.GatherAndCompare(env.reg, strings.NewReader(`
# HELP hearth_ingester_tsdb_head_series_created_total Total number of series created in the head
# TYPE hearth_ingester_tsdb_head_series_created_total counter
hearth_ingester_tsdb_head_series_created_total{tenant="t"} 2
`), "hearth_ingester_tsdb_head_series_created_total"))
	// Every TSDB metric the collector renames exists: a Prometheus
	// upgrade that renames one fails here rather than dropping it from the
	// exposition (settleExemplars reads the exemplar gauge by name too).
	for from, name := range tsdbMetricNames {
		n, err := testutil.GatherAndCount(env.reg, name)
		require.NoError(t, err)
		require.Positive(t, n, "%s, from the TSDB's %s", name, from)
	}

	// Closing the tenant drops its series.
	env.stop()
	for _, name := range []string{"hearth_ingester_memory_series", "hearth_ingester_ingested_samples_total", "hearth_ingester_append_failures_total", "hearth_ingester_tsdb_head_chunks"} {
		n, err := testutil.GatherAndCount(env.reg, name)
		require.NoError(t, err)
		require.Zero(t, n, name)
	}
}

// fakeFlusher records blocks and says which are flushed.
type fakeFlusher struct {
	mu        sync.Mutex
	compacted []tsdb.BlockMeta
	flushed   map[ulid.ULID]bool
}

func (f *fakeFlusher) BlockCompacted(t tenant.ID, meta tsdb.BlockMeta, dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.compacted = append(f.compacted, meta)
}

func (f *fakeFlusher) Flushed(t tenant.ID, meta tsdb.BlockMeta) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushed[meta.ULID]
}

func (f *fakeFlusher) markFlushed(id ulid.ULID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed[id] = true
}

func (f *fakeFlusher) blocks() []tsdb.BlockMeta {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tsdb.BlockMeta(nil), f.compacted...)
}

func TestCompactionFeedsFlusherAndRetentionWaitsForIt(t *testing.T) {
	f := &fakeFlusher{flushed: map[ulid.ULID]bool{}}
	// Wall clock far past the data: every block is beyond retention.
	now := func() time.Time { return time.UnixMilli(0).Add(100 * time.Hour) }
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()), withFlusher(f), withNow(now))
	ctx := context.Background()

	pushRange := func(from, to time.Duration) {
		s := series("__name__", "m", "job", "j")
		for ts := from; ts <= to; ts += time.Minute {
			s.Samples = append(s.Samples, ingesterpb.Sample{TimestampMs: ts.Milliseconds(), Value: 1})
		}
		require.Empty(t, push(t, env, "t", s).Errors)
	}

	// 3h01m of data: the first 2h block range is complete.
	pushRange(0, 3*time.Hour+time.Minute)
	require.NoError(t, env.ing.Compact(ctx))
	first := f.blocks()
	require.Len(t, first, 1)
	require.Equal(t, int64(0), first[0].MinTime)
	require.Equal(t, (2 * time.Hour).Milliseconds(), first[0].MaxTime)
	require.Equal(t, first, env.ing.Blocks("t"))

	// Not flushed yet: kept despite being past retention.
	pushRange(3*time.Hour+2*time.Minute, 5*time.Hour+time.Minute)
	require.NoError(t, env.ing.Compact(ctx))
	require.Len(t, f.blocks(), 2)
	require.Len(t, env.ing.Blocks("t"), 2)

	// Once flushed, the next reload deletes it.
	f.markFlushed(first[0].ULID)
	pushRange(5*time.Hour+2*time.Minute, 7*time.Hour+time.Minute)
	require.NoError(t, env.ing.Compact(ctx))
	blocks := env.ing.Blocks("t")
	require.Len(t, blocks, 2)
	for _, b := range blocks {
		require.NotEqual(t, first[0].ULID, b.ULID)
	}

	// Data in the remaining blocks and the head is still served.
	got, _ := queryAll(t, env, "t", &ingesterpb.QueryRequest{StartMs: (2 * time.Hour).Milliseconds(), EndMs: (7 * time.Hour).Milliseconds()})
	require.Len(t, got["m/j"].samples, int((5*time.Hour)/time.Minute)+1)
}

// TestPushAfterZeroCopyDecode decodes a request with the zero-copy decoder,
// pushes it, overwrites the buffer with another request decoded into the
// same message, pushes again, and checks both sets of labels are intact.
func TestPushAfterZeroCopyDecode(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	encode := func(job string, v float64) []byte {
		req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{
			withSamples(series("__name__", "up", "job", job), ingesterpb.Sample{TimestampMs: 1000, Value: v}),
		}}
		data, err := req.Marshal()
		require.NoError(t, err)
		return data
	}
	first, second := encode("aaa", 1), encode("bbb", 2)
	require.Len(t, second, len(first))

	buf := append([]byte(nil), first...)
	req := &ingesterpb.PushRequest{}
	require.NoError(t, req.UnmarshalZeroCopy(buf))
	_, err := env.ing.Push(ctxFor("t"), req)
	require.NoError(t, err)

	copy(buf, second) // The receive buffer is reused for the next message.
	require.NoError(t, req.UnmarshalZeroCopy(buf))
	require.Equal(t, "bbb", req.Timeseries[0].Labels[1].Value)
	_, err = env.ing.Push(ctxFor("t"), req)
	require.NoError(t, err)
	for k := range buf {
		buf[k] = 0
	}

	got, _ := queryAll(t, env, "t", allSeries())
	require.Len(t, got, 2)
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}}, got["up/aaa"].samples)
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 2}}, got["up/bbb"].samples)
}

// TestConcurrentPushesCreateSeriesOnce has pushers create the same new
// series at the same time, each from labels in its own buffer that it
// scribbles over after each push: every series is created once, with
// labels that survive every buffer.
func TestConcurrentPushesCreateSeriesOnce(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	const pushers, series = 4, 50
	var wg sync.WaitGroup
	for range pushers {
		wg.Go(func() {
			buf := make([]byte, 32)
			for k := range series {
				// Every label string aliases buf.
				n := copy(buf, "__name__upjob"+strconv.Itoa(k))
				s := unsafe.String(&buf[0], n)
				req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{{
					Labels:  []ingesterpb.LabelPair{{Name: s[:8], Value: s[8:10]}, {Name: s[10:13], Value: s[13:]}},
					Samples: []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}},
				}}}
				resp, err := env.ing.Push(ctxFor("t"), req)
				if !assertNoErr(t, err) {
					return
				}
				if len(resp.Errors) > 0 {
					t.Errorf("push refused: %v", resp.Errors)
					return
				}
				copy(buf, strings.Repeat("Y", len(buf)))
			}
		})
	}
	wg.Wait()
	got, _ := queryAll(t, env, "t", allSeries())
	require.Len(t, got, series)
	for k := range series {
		job := strconv.Itoa(k)
		r := got["up/"+job]
		require.NotNil(t, r, "series job=%s", job)
		require.Equal(t, map[string]string{"__name__": "up", "job": job}, r.labels)
		require.Len(t, r.samples, 1)
	}
	require.Equal(t, series, env.ing.dbs.get("t").limiter.series())
}
