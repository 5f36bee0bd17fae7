package ingester

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// exemplarSeries is series job=<job> with one sample and one exemplar at
// ts.
func exemplarSeries(job string, ts int64) ingesterpb.TimeSeries {
	s := withSamples(series("__name__", "requests_total", "job", job), ingesterpb.Sample{TimestampMs: ts, Value: float64(ts)})
	s.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: fmt.Sprint(ts)}}, Value: float64(ts), TimestampMs: ts}}
	return s
}

// queryExemplars returns the timestamps of tenant id's exemplars, per job.
func queryExemplars(t *testing.T, env *testEnv, id string) map[string][]int64 {
	t.Helper()
	resp, err := env.client.QueryExemplars(ctxFor(id), &ingesterpb.ExemplarQueryRequest{StartMs: 0, EndMs: 1 << 50, MatcherSets: []ingesterpb.MatcherSet{
		{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "__name__", Value: "requests_total"}}},
	}})
	require.NoError(t, err)
	out := map[string][]int64{}
	for _, s := range resp.Series {
		job := ""
		for _, l := range s.Labels {
			if l.Name == "job" {
				job = l.Value
			}
		}
		for _, e := range s.Exemplars {
			out[job] = append(out[job], e.TimestampMs)
		}
	}
	return out
}

// exemplarBuffer returns the size of tenant id's exemplar buffer, as
// hearth_ingester_tsdb_exemplar_max_exemplars shows it.
func exemplarBuffer(t *testing.T, env *testEnv, id string) float64 {
	t.Helper()
	return metricValue(t, env.reg, "hearth_ingester_tsdb_exemplar_max_exemplars", "tenant", id)
}

func TestExemplarBufferAllocatedOnFirstExemplars(t *testing.T) {
	dir := t.TempDir()
	o := limits.NewOverrides(defaultLimits()) // 100,000 exemplars
	env := startIngester(t, dir, o)
	noExemplars := func(id string) string { return filepath.Join(dir, id, noExemplarsFile) }

	// Tenants without exemplars have an empty buffer, and say so on disk.
	push(t, env, "plain", withSamples(series("__name__", "up", "job", "a"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	push(t, env, "traced", withSamples(series("__name__", "up", "job", "a"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	for _, id := range []string{"plain", "traced"} {
		require.Zero(t, exemplarBuffer(t, env, id), id)
		require.FileExists(t, noExemplars(id))
	}

	// The first exemplars allocate the buffer at the limit and are stored.
	require.Empty(t, push(t, env, "traced", exemplarSeries("api", 2000)).Errors)
	require.Equal(t, 100000.0, exemplarBuffer(t, env, "traced"))
	require.NoFileExists(t, noExemplars("traced"))
	require.Equal(t, map[string][]int64{"api": {2000}}, queryExemplars(t, env, "traced"))
	require.Equal(t, 1.0, metricValue(t, env.reg, "hearth_ingester_tsdb_exemplar_exemplars_in_storage", "tenant", "traced"))
	require.Empty(t, push(t, env, "traced", exemplarSeries("api", 3000), exemplarSeries("web", 3000)).Errors)
	require.Equal(t, map[string][]int64{"api": {2000, 3000}, "web": {3000}}, queryExemplars(t, env, "traced"))
	require.Zero(t, exemplarBuffer(t, env, "plain"))

	// A restart replays the exemplars from the WAL, into a buffer of the
	// limit; the other tenant's stays empty.
	env.stop()
	env = startIngester(t, dir, o)
	require.Equal(t, 100000.0, exemplarBuffer(t, env, "traced"))
	require.Equal(t, map[string][]int64{"api": {2000, 3000}, "web": {3000}}, queryExemplars(t, env, "traced"))
	require.Zero(t, exemplarBuffer(t, env, "plain"))
	require.FileExists(t, noExemplars("plain"))
}

func TestExemplarBufferOnOpen(t *testing.T) {
	tests := map[string]struct {
		// before prepares the tenant's directory: what it pushes, and
		// whether it removes the no-exemplars file afterwards (a directory
		// from before the file existed).
		exemplars      bool
		removeFile     bool
		wantBuffer     float64
		wantFile       bool
		wantReplayedTs []int64
	}{
		"no exemplars: empty buffer": {
			wantFile: true,
		},
		"no exemplars, directory without the file: the buffer is given back": {
			removeFile: true,
			wantFile:   true,
		},
		"exemplars in the WAL: buffer at the limit, exemplars replayed": {
			exemplars:      true,
			wantBuffer:     100000,
			wantReplayedTs: []int64{2000},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := limits.NewOverrides(defaultLimits())
			env := startIngester(t, dir, o)
			s := withSamples(series("__name__", "requests_total", "job", "api"), ingesterpb.Sample{TimestampMs: 1000, Value: 1})
			if tc.exemplars {
				s = exemplarSeries("api", 2000)
			}
			require.Empty(t, push(t, env, "t", s).Errors)
			env.stop()
			if tc.removeFile {
				require.NoError(t, os.Remove(filepath.Join(dir, "t", noExemplarsFile)))
			}

			env = startIngester(t, dir, o)
			require.Equal(t, tc.wantBuffer, exemplarBuffer(t, env, "t"))
			_, err := os.Stat(filepath.Join(dir, "t", noExemplarsFile))
			require.Equal(t, tc.wantFile, err == nil, "no-exemplars file: %v", err)
			var want map[string][]int64
			if tc.wantReplayedTs != nil {
				want = map[string][]int64{"api": tc.wantReplayedTs}
			}
			got := queryExemplars(t, env, "t")
			if want == nil {
				require.Empty(t, got)
			} else {
				require.Equal(t, want, got)
			}

			// Whatever the start, the next exemplars are stored.
			require.Empty(t, push(t, env, "t", exemplarSeries("api", 5000)).Errors)
			require.Equal(t, 100000.0, exemplarBuffer(t, env, "t"))
			require.Contains(t, queryExemplars(t, env, "t")["api"], int64(5000))
		})
	}
}

func TestExemplarLimitOverrides(t *testing.T) {
	withLimit := func(n int) *limits.Limits {
		l := defaultLimits()
		l.MaxExemplars = n
		return &l
	}
	type step struct {
		limit     int     // the tenant's max_exemplars from this step on
		pushAt    int64   // an exemplar at this timestamp, when not 0
		maintain  bool    // run the maintenance cycle, which applies limits
		buffer    float64 // the buffer's size after the step
		exemplars int     // exemplars queryable after the step
	}
	tests := map[string][]step{
		"a tenant without exemplars keeps an empty buffer when its limit changes, and gets the limit of the moment on its first exemplars": {
			{limit: 50, maintain: true, buffer: 0},
			{limit: 20, maintain: true, buffer: 0},
			{limit: 20, pushAt: 1000, buffer: 20, exemplars: 1},
		},
		"a changed limit applies to the buffer on the next maintenance cycle, keeping the newest exemplars": {
			{limit: 100000, pushAt: 1000, buffer: 100000, exemplars: 1},
			{limit: 100000, pushAt: 2000, buffer: 100000, exemplars: 2},
			{limit: 100000, pushAt: 3000, buffer: 100000, exemplars: 3},
			{limit: 2, maintain: true, buffer: 2, exemplars: 2},
			{limit: 10, maintain: true, buffer: 10, exemplars: 2},
			{limit: 10, pushAt: 4000, buffer: 10, exemplars: 3},
		},
		"exemplars sent under a limit of 0 are dropped and allocate nothing; the first ones after the limit is raised allocate it": {
			{limit: 0, pushAt: 1000, buffer: 0, exemplars: 0},
			{limit: 5, maintain: true, buffer: 0, exemplars: 0},
			{limit: 5, pushAt: 2000, buffer: 5, exemplars: 1},
		},
		"a limit lowered to 0 empties the buffer; raised again, it applies on the next cycle": {
			{limit: 100000, pushAt: 1000, buffer: 100000, exemplars: 1},
			{limit: 0, maintain: true, buffer: 0, exemplars: 0},
			{limit: 0, pushAt: 2000, buffer: 0, exemplars: 0},
			{limit: 7, maintain: true, buffer: 7, exemplars: 0},
			{limit: 7, pushAt: 3000, buffer: 7, exemplars: 1},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			o := limits.NewOverrides(defaultLimits())
			env := startIngester(t, t.TempDir(), o)
			// The tenant exists before the first step, without exemplars.
			push(t, env, "t", withSamples(series("__name__", "requests_total", "job", "api"), ingesterpb.Sample{TimestampMs: 500, Value: 1}))
			for k, s := range steps {
				o.Set(map[tenant.ID]*limits.Limits{"t": withLimit(s.limit)})
				if s.pushAt != 0 {
					require.Empty(t, push(t, env, "t", exemplarSeries("api", s.pushAt)).Errors, "step %d", k)
				}
				if s.maintain {
					require.NoError(t, env.ing.Compact(context.Background()), "step %d", k)
				}
				require.Equal(t, s.buffer, exemplarBuffer(t, env, "t"), "step %d: buffer", k)
				require.Len(t, queryExemplars(t, env, "t")["api"], s.exemplars, "step %d: exemplars", k)
			}
		})
	}
}

// TestConcurrentFirstExemplars pushes a new tenant's first exemplars from
// several goroutines at once; run with -race it checks the allocation of
// the buffer against concurrent appends.
func TestConcurrentFirstExemplars(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	push(t, env, "t", withSamples(series("__name__", "up"), ingesterpb.Sample{TimestampMs: 500, Value: 1}))
	const pushers, rounds = 4, 20
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() {
			for r := range rounds {
				resp, err := env.client.Push(ctxFor("t"), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{exemplarSeries(fmt.Sprint(p), int64(1000+r))}})
				if !assertNoErr(t, err) || len(resp.Errors) > 0 {
					t.Errorf("push: %v", resp.Errors)
					return
				}
			}
		})
	}
	wg.Wait()
	got := queryExemplars(t, env, "t")
	require.Len(t, got, pushers)
	for p := range pushers {
		require.Len(t, got[fmt.Sprint(p)], rounds)
	}
}
