package querier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

const hourMs = int64(time.Hour / time.Millisecond)

// TestStoreAndIngestersMatchPrometheus writes 30h of samples: the older
// 20h to the chunk store, the newer 14h to the ingesters (4h in both, as
// after a flush). Range and instant queries over store-only, overlapping
// and ingester-only ranges, with and without a metric name, must equal the
// same engine's answers over a Prometheus storage holding every sample
// once.
func TestStoreAndIngestersMatchPrometheus(t *testing.T) {
	for backend, newStore := range storeBackends {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().Truncate(time.Minute)
			n := now.UnixMilli()
			series := append(counters("http_requests_total", 9, n-30*hourMs, n, 60_000),
				counters("process_cpu_seconds_total", 3, n-30*hourMs, n, 60_000)...)
			ctx := tenant.WithID(context.Background(), "t")

			ref := teststorage.New(t)
			app := ref.Appender(ctx)
			for _, s := range series {
				for _, x := range s.samples {
					_, err := app.Append(0, s.lset, x.t, x.f)
					require.NoError(t, err)
				}
			}
			require.NoError(t, app.Commit())

			c := newCluster(t, 3)
			st := newStore(t)
			writeStore(t, st, "t", series, n-30*hourMs, n-10*hourMs)
			pushIngesters(t, c, "t", series, n-14*hourMs, n)
			hearth, _ := testQueryable(c, st, nil, now)
			engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery*100)

			queries := []string{
				`http_requests_total`,
				`rate(http_requests_total[5m])`,
				`sum by (job) (rate(http_requests_total[5m]))`,
				`count_over_time(http_requests_total[1h])`, // Doubled if the overlap were not deduplicated.
				`{job="job1"}`,
				`count by (__name__) ({__name__=~".+"})`,
				`sum_over_time({__name__=~"process_.*", instance=~"i1|i2"}[30m])`,
			}
			for _, q := range queries {
				t.Run("range "+q, func(t *testing.T) {
					start, end := now.Add(-29*time.Hour), now
					want := rangeQuery(t, engine, ref, ctx, q, start, end, 5*time.Minute)
					got := rangeQuery(t, engine, hearth, ctx, q, start, end, 5*time.Minute)
					require.NotEmpty(t, want)
					requireSameMatrix(t, want, got)
				})
				for _, ago := range []time.Duration{20 * time.Hour, 12 * time.Hour, time.Hour} {
					t.Run(fmt.Sprint("instant ", q, " ", ago, " ago"), func(t *testing.T) {
						want := instantQuery(t, engine, ref, ctx, q, now.Add(-ago))
						got := instantQuery(t, engine, hearth, ctx, q, now.Add(-ago))
						require.NotEmpty(t, want)
						require.Equal(t, want, got)
					})
				}
			}
		})
	}
}

// TestStoreOnlyReadsSkipIngesters checks the routing end to end: an old
// query reads the store only, a recent one the ingesters only, and the
// store metrics count what the store returned.
func TestStoreOnlyReadsSkipIngesters(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	n := now.UnixMilli()
	series := counters("up", 2, n-30*hourMs, n, 60_000)
	c := newCluster(t, 1)
	st := newPebbleStore(t)
	writeStore(t, st, "t", series, n-30*hourMs, n-10*hourMs)
	pushIngesters(t, c, "t", series, n-14*hourMs, n)
	q, reg := testQueryable(c, st, nil, now)
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	ctx := tenant.WithID(context.Background(), "t")

	require.Len(t, instantQuery(t, engine, q, ctx, `{job=~"job.*"}`, now.Add(-20*time.Hour)), 2)
	require.NoError(t, testutil.GatherAndCompare(reg, expectFetched(0, 2, 4), fetchedMetrics...))

	require.Len(t, instantQuery(t, engine, q, ctx, `{job=~"job.*"}`, now), 2)
	require.NoError(t, testutil.GatherAndCompare(reg, expectFetched(2, 2, 4), fetchedMetrics...))
}

var fetchedMetrics = []string{"hearth_querier_fetched_series_total", "hearth_querier_store_fetched_series_total", "hearth_querier_store_fetched_chunks_total"}

func expectFetched(ingesterSeries, storeSeries, storeChunks int) io.Reader {
	return strings.NewReader(fmt.Sprintf(`# HELP hearth_querier_fetched_series_total Series fetched from ingesters, after merging replicas.
# TYPE hearth_querier_fetched_series_total counter
hearth_querier_fetched_series_total %d
# HELP hearth_querier_store_fetched_chunks_total Chunks fetched from the chunk store.
# TYPE hearth_querier_store_fetched_chunks_total counter
hearth_querier_store_fetched_chunks_total %d
# HELP hearth_querier_store_fetched_series_total Series fetched from the chunk store.
# TYPE hearth_querier_store_fetched_series_total counter
hearth_querier_store_fetched_series_total %d
`, ingesterSeries, storeChunks, storeSeries))
}

func instantQuery(t testing.TB, engine promql.QueryEngine, q storage.Queryable, ctx context.Context, expr string, at time.Time) promql.Vector {
	t.Helper()
	qry, err := engine.NewInstantQuery(ctx, q, nil, expr, at)
	require.NoError(t, err)
	defer qry.Close()
	res := qry.Exec(ctx)
	require.NoError(t, res.Err)
	v, err := res.Vector()
	require.NoError(t, err)
	return append(promql.Vector(nil), v...)
}

// TestStoreTenantIsolation writes the same series for two tenants with
// different values into cacheable buckets and reads them alternately, so
// the second read of each comes from the store's caches.
func TestStoreTenantIsolation(t *testing.T) {
	for backend, newStore := range storeBackends {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().Truncate(time.Minute)
			at := now.Add(-5 * 24 * time.Hour)
			st := newStore(t)
			for i, id := range []string{"tenant-a", "tenant-b"} {
				s := counters("up", 1, at.UnixMilli()-hourMs, at.UnixMilli(), 60_000)
				for j := range s[0].samples {
					s[0].samples[j].f = float64(i + 1)
				}
				writeStore(t, st, id, s, at.UnixMilli()-hourMs, at.UnixMilli())
			}
			q, _ := testQueryable(nil, st, nil, now)
			engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
			for range 2 {
				for id, want := range map[tenant.ID]float64{"tenant-a": 1, "tenant-b": 2, "tenant-c": 0} {
					v := instantQuery(t, engine, q, tenant.WithID(context.Background(), id), `up`, at)
					if want == 0 {
						require.Empty(t, v)
						continue
					}
					require.Len(t, v, 1)
					require.Equal(t, want, v[0].F, id)
				}
			}
		})
	}
}

// startStoreAPI serves a querier over c and st with the given limits.
func startStoreAPI(t *testing.T, c *cluster, st Store, l limits.Limits) string {
	t.Helper()
	cfg := defaultConfig()
	q, err := New(cfg, Deps{Registerer: prometheus.NewPedanticRegistry(), Instances: c, Clients: c, Store: st, Limits: limits.NewOverrides(l)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	srv := httptest.NewServer(tenant.TrustHeader(q.Handler()))
	t.Cleanup(srv.Close)
	return srv.URL + cfg.HTTPPrefix
}

// TestStoreLabelsAndSeries checks that labels, label values and series
// answer from the store and the ingesters, honouring the time range: the
// store holds one hour of old_metric five days ago and one of mid_metric
// two days ago, the ingesters recent samples of up.
func TestStoreLabelsAndSeries(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	day := 24 * time.Hour
	c := newCluster(t, 1)
	st := newPebbleStore(t)
	old := now.Add(-5 * day)
	mid := now.Add(-2 * day)
	writeStore(t, st, "tenant-a", []testSeries{
		{lset: labels.FromStrings("__name__", "old_metric", "job", "api", "old", "x"), samples: []sample{{old.UnixMilli() - hourMs, 1}, {old.UnixMilli(), 1}}},
		{lset: labels.FromStrings("__name__", "mid_metric", "job", "db", "mid", "y"), samples: []sample{{mid.UnixMilli() - hourMs, 1}, {mid.UnixMilli(), 1}}},
	}, 0, now.UnixMilli())
	pushTestData(t, c, "tenant-a", 1, 1, now)
	client := apiClient(t, startStoreAPI(t, c, st, defaultLimits()), "tenant-a")
	ctx := context.Background()

	type window struct{ start, end time.Time }
	oldDays := window{now.Add(-6 * day), now.Add(-4 * day)}
	recentDays := window{now.Add(-3 * day), now}
	all := window{now.Add(-6 * day), now}

	for name, tc := range map[string]struct {
		w          window
		wantNames  model.LabelNames
		wantJobs   model.LabelValues
		wantSeries []model.LabelSet
	}{
		"old days: the store's old bucket only": {
			w: oldDays, wantNames: model.LabelNames{"__name__", "job", "old"}, wantJobs: model.LabelValues{"api"},
			wantSeries: []model.LabelSet{{"__name__": "old_metric", "job": "api", "old": "x"}},
		},
		"recent days: the store's recent bucket and the ingesters": {
			w: recentDays, wantNames: model.LabelNames{"__name__", "instance", "job", "mid"}, wantJobs: model.LabelValues{"api", "db"},
			wantSeries: []model.LabelSet{{"__name__": "mid_metric", "job": "db", "mid": "y"}, {"__name__": "up", "instance": "i0", "job": "api"}},
		},
		"everything": {
			w: all, wantNames: model.LabelNames{"__name__", "instance", "job", "mid", "old"}, wantJobs: model.LabelValues{"api", "db"},
			wantSeries: []model.LabelSet{
				{"__name__": "mid_metric", "job": "db", "mid": "y"},
				{"__name__": "old_metric", "job": "api", "old": "x"},
				{"__name__": "up", "instance": "i0", "job": "api"},
			},
		},
		"series honour the range within a bucket": {
			w: window{old.Add(time.Hour), old.Add(2 * time.Hour)}, wantNames: model.LabelNames{"__name__", "job", "old"}, wantJobs: model.LabelValues{"api"},
			wantSeries: []model.LabelSet{},
		},
	} {
		t.Run(name, func(t *testing.T) {
			names, _, _, err := client.LabelNames(ctx, nil, tc.w.start, tc.w.end)
			require.NoError(t, err)
			require.Equal(t, tc.wantNames, names)
			jobs, _, _, err := client.LabelValues(ctx, "job", nil, tc.w.start, tc.w.end)
			require.NoError(t, err)
			require.Equal(t, tc.wantJobs, jobs)
			series, _, _, err := client.Series(ctx, []string{`{job=~".+"}`}, tc.w.start, tc.w.end)
			require.NoError(t, err)
			require.Equal(t, tc.wantSeries, series)
		})
	}

	// No time range: all of the store and the ingesters.
	names, _, _, err := client.LabelNames(ctx, nil, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, model.LabelNames{"__name__", "instance", "job", "mid", "old"}, names)
	series, _, _, err := client.Series(ctx, []string{`{job=~".+"}`}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, series, 3)

	jobs, _, _, err := client.LabelValues(ctx, "job", []string{`{__name__="mid_metric"}`}, recentDays.start, recentDays.end)
	require.NoError(t, err)
	require.Equal(t, model.LabelValues{"db"}, jobs)
	v, _, _, err := client.Query(ctx, `count by (__name__) ({__name__=~".+"})`, old)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	require.Equal(t, model.Metric{"__name__": "old_metric"}, v.(model.Vector)[0].Metric)
	require.Equal(t, model.SampleValue(1), v.(model.Vector)[0].Value)
}

// TestStoreAPIErrors checks the limits the querier enforces on store
// reads and on query length, and that store failures fail the request
// (5xx), never answer partially.
func TestStoreAPIErrors(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	n := now.Add(-2 * 24 * time.Hour).UnixMilli()
	c := newCluster(t, 1)
	pushTestData(t, c, "tenant-a", 3, 1, now)
	st := newPebbleStore(t)
	writeStore(t, st, "tenant-a", counters("up", 3, n-2*hourMs, n, 15_000), 0, n)

	withLimits := func(f func(*limits.Limits)) limits.Limits {
		l := defaultLimits()
		f(&l)
		return l
	}
	base := func(l limits.Limits) string { return startStoreAPI(t, c, st, l) }
	unlimited := base(defaultLimits())
	rangeQuery := func(q string, start, end int64) string {
		return "/api/v1/query_range?" + url.Values{"query": {q}, "start": {fmt.Sprint(start / 1000)}, "end": {fmt.Sprint(end / 1000)}, "step": {"60"}}.Encode()
	}
	oldRange := rangeQuery("up", n-hourMs, n)
	shortLimit := base(withLimits(func(l *limits.Limits) { l.MaxQueryLength = model.Duration(time.Hour) }))

	tests := map[string]struct {
		base       string
		path       string
		wantStatus int
		wantType   string
		wantError  string
	}{
		"store data within the limits": {base: unlimited, path: oldRange, wantStatus: http.StatusOK},
		"store series limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxSeriesPerQuery = 2 })), path: oldRange,
			wantStatus: http.StatusUnprocessableEntity, wantType: "execution", wantError: "more than 2 series from the chunk store, the limit -querier.max-series-per-query",
		},
		// The store merges a series' chunks within each 2h window, so
		// the 3 series are 3 to 6 chunks depending on the time of day:
		// a limit of 2 is exceeded whatever it is.
		"store chunks limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxChunksPerQuery = 2 })), path: oldRange,
			wantStatus: http.StatusUnprocessableEntity, wantType: "execution", wantError: "-querier.max-chunks-per-query",
		},
		"store chunk bytes limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxChunkBytesPerQuery = 100 })), path: oldRange,
			wantStatus: http.StatusUnprocessableEntity, wantType: "execution", wantError: "-querier.max-chunk-bytes-per-query",
		},
		// oldRange reads 3 series × 61 steps = 183 samples.
		"samples within the limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxSamplesPerQuery = 183 })), path: oldRange, wantStatus: http.StatusOK,
		},
		"samples limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxSamplesPerQuery = 182 })), path: oldRange,
			wantStatus: http.StatusUnprocessableEntity, wantType: "cost_limit",
			wantError: `the query read more than 182 samples, the limit -querier.max-samples-per-query of tenant "tenant-a"`,
		},
		// A range selector's samples count once however many steps'
		// windows overlap them: count_over_time(up[5m]) over the hour at
		// 1m reads 5m + 1h of 15s samples, 260 per series, not 61 × 20.
		"range selector samples within the limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxSamplesPerQuery = 780 })), path: rangeQuery("count_over_time(up[5m])", n-hourMs, n), wantStatus: http.StatusOK,
		},
		"range selector samples limit": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxSamplesPerQuery = 779 })), path: rangeQuery("count_over_time(up[5m])", n-hourMs, n),
			wantStatus: http.StatusUnprocessableEntity, wantType: "cost_limit", wantError: "-querier.max-samples-per-query",
		},
		"samples limit on ingester data": {
			base: base(withLimits(func(l *limits.Limits) { l.MaxSamplesPerQuery = 10 })), path: rangeQuery("up", now.UnixMilli()-hourMs, now.UnixMilli()),
			wantStatus: http.StatusUnprocessableEntity, wantType: "cost_limit", wantError: "-querier.max-samples-per-query",
		},
		"range within max query length": {base: shortLimit, path: oldRange, wantStatus: http.StatusOK},
		"range over max query length": {
			base: shortLimit, path: rangeQuery("up", n-2*hourMs, n),
			wantStatus: http.StatusBadRequest, wantType: "bad_data", wantError: "the query time range exceeds the limit (query length: 2h0m0s, limit: 1h0m0s)",
		},
		"selector range over max query length": {
			base: shortLimit, path: "/api/v1/query?" + url.Values{"query": {"rate(up[61m])"}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "bad_data", wantError: "-querier.max-query-length",
		},
		"subqueries add up": {
			base: shortLimit, path: "/api/v1/query?" + url.Values{"query": {"max_over_time(rate(up[5m])[56m:1m])"}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "bad_data", wantError: "query length: 1h1m0s",
		},
		"series over max query length": {
			base: shortLimit, path: "/api/v1/series?" + url.Values{"match[]": {"up"}, "start": {fmt.Sprint(n/1000 - 7200)}, "end": {fmt.Sprint(n / 1000)}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "bad_data", wantError: "-querier.max-query-length",
		},
		"store unavailable": {
			base: startStoreAPI(t, c, failingStore{errors.New("backend down")}, defaultLimits()), path: oldRange,
			wantStatus: http.StatusServiceUnavailable, wantType: "unavailable", wantError: "chunk store select: backend down",
		},
		"store unavailable for labels": {
			base: startStoreAPI(t, c, failingStore{errors.New("backend down")}, defaultLimits()), path: "/api/v1/labels",
			wantStatus: http.StatusServiceUnavailable, wantType: "unavailable", wantError: "chunk store label_names: backend down",
		},
		"store unavailable for series": {
			base: startStoreAPI(t, c, failingStore{errors.New("backend down")}, defaultLimits()), path: "/api/v1/series?match[]=up",
			wantStatus: http.StatusServiceUnavailable, wantType: "unavailable", wantError: "backend down",
		},
		"a recent query does not need the store": {
			base: startStoreAPI(t, c, failingStore{errors.New("backend down")}, defaultLimits()), path: rangeQuery("up", now.UnixMilli()-hourMs, now.UnixMilli()),
			wantStatus: http.StatusOK,
		},
		"corrupt store data": {
			base: startStoreAPI(t, c, failingStore{fmt.Errorf("decoding chunk: %w", chunk.ErrCorrupt)}, defaultLimits()), path: oldRange,
			wantStatus: http.StatusInternalServerError, wantType: "internal", wantError: "corrupt row",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, e := getJSON(t, tc.base+tc.path, "tenant-a")
			require.Equal(t, tc.wantStatus, status, e.Error)
			if tc.wantStatus == http.StatusOK {
				require.Equal(t, "success", e.Status)
				return
			}
			require.Equal(t, "error", e.Status)
			require.Equal(t, tc.wantType, e.ErrorType)
			require.Contains(t, e.Error, tc.wantError)
		})
	}
}

func TestPlan(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) int64 { return now.Add(-ago).UnixMilli() }
	st := failingStore{}
	tests := map[string]struct {
		store         Store
		within, after time.Duration
		mint, maxt    int64
		want          plan
	}{
		"no store: ingesters whatever the range": {
			within: 13 * time.Hour, after: 12 * time.Hour, mint: at(30 * 24 * time.Hour), maxt: at(29 * 24 * time.Hour),
			want: plan{ingesters: true},
		},
		"recent range: ingesters only": {
			store: st, within: 13 * time.Hour, after: 12 * time.Hour, mint: at(time.Hour), maxt: at(0),
			want: plan{ingesters: true, storeMaxt: at(12 * time.Hour)},
		},
		"old range: store only": {
			store: st, within: 13 * time.Hour, after: 12 * time.Hour, mint: at(72 * time.Hour), maxt: at(48 * time.Hour),
			want: plan{store: true, storeMaxt: at(48 * time.Hour)},
		},
		"spanning range: both, the store up to query-store-after": {
			store: st, within: 13 * time.Hour, after: 12 * time.Hour, mint: at(24 * time.Hour), maxt: at(0),
			want: plan{ingesters: true, store: true, storeMaxt: at(12 * time.Hour)},
		},
		"end at query-ingesters-within: both": {
			store: st, within: 13 * time.Hour, after: 12 * time.Hour, mint: at(24 * time.Hour), maxt: at(13 * time.Hour),
			want: plan{ingesters: true, store: true, storeMaxt: at(13 * time.Hour)},
		},
		"zero durations: both sources, the whole range": {
			store: st, mint: at(time.Hour), maxt: at(0),
			want: plan{ingesters: true, store: true, storeMaxt: at(0)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := &Queryable{store: tc.store, now: func() time.Time { return now }}
			q.cfg.QueryIngestersWithin, q.cfg.QueryStoreAfter = tc.within, tc.after
			require.Equal(t, tc.want, q.plan(tc.mint, tc.maxt))
		})
	}
}
