package querier

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cortexproject/promqlsmith"
	"github.com/grafana/regexp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	v1 "github.com/prometheus/prometheus/web/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/frontend/queryrange"
	"github.com/hearthmetrics/hearth/pkg/frontend/queryrange/queryrangetest"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// frontendDiff sends every query both to a Prometheus API handler directly
// and through the query-frontend middlewares (split by 1h, results cache,
// 4 shards) with that handler as the querier, over a storage that honours
// __query_shard__, and requires the same answer: the same series,
// timestamps and histogram buckets, floats within 1e-12 relative (topk and
// bottomk among ties compared by value).
type frontendDiff struct {
	t       testing.TB
	engine  promql.QueryEngine
	mw      *queryrange.Middlewares
	tenants atomic.Int64
	checked atomic.Int64
	// handlers are the API handlers by storage: building one renders
	// Prometheus's OpenAPI document, which takes a while.
	handlers map[storage.Queryable]http.RoundTripper
}

func newFrontendDiff(t testing.TB, engine promql.QueryEngine, shards int) *frontendDiff {
	var (
		cfg queryrange.Config
		lim limits.Limits
	)
	fs := flag.NewFlagSet("frontend", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	lim.RegisterFlags(fs)
	cfg.SplitQueriesByInterval = time.Hour
	lim.QueryShardingTotalShards = shards
	lim.MaxCacheFreshness = 0
	lim.CacheUnalignedRequests = true
	mw, err := queryrange.New(cfg, queryrange.Deps{Limits: limits.NewOverrides(lim), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, mw.Close()) })
	return &frontendDiff{t: t, engine: engine, mw: mw, handlers: map[storage.Queryable]http.RoundTripper{}}
}

// apiHandler is Prometheus's HTTP API over q, routed under /api/v1.
func apiHandler(engine promql.QueryEngine, q storage.Queryable) http.Handler {
	api := v1.NewAPI(
		engine, sampleAndChunks{q}, nil, nil,
		func(context.Context) v1.ScrapePoolsRetriever { return noTargets{} },
		func(context.Context) v1.TargetRetriever { return noTargets{} },
		func(context.Context) v1.AlertmanagerRetriever { return noTargets{} },
		func() config.Config { return config.DefaultConfig },
		map[string]string{}, v1.GlobalURLOptions{},
		func(f http.HandlerFunc) http.HandlerFunc { return f },
		nil, "", false, false, 0, nil,
		func(context.Context) v1.RulesRetriever { return nil },
		50_000_000, 10, 1<<20, false,
		regexp.MustCompile(`^$`),
		func() (v1.RuntimeInfo, error) { return v1.RuntimeInfo{}, errors.New("not available") },
		nil, nil, nil, nil, prometheus.NewRegistry(), nil,
		false, nil, false, false, false,
		5*time.Minute, false, false, statusCode, nil, v1.OpenAPIOptions{},
		parser.NewParser(promqltest.TestParserOpts), false, 2*time.Minute,
	)
	router := route.New()
	api.Register(router.WithPrefix("/api/v1"))
	return router
}

type sampleAndChunks struct{ storage.Queryable }

func (sampleAndChunks) ChunkQuerier(int64, int64) (storage.ChunkQuerier, error) {
	return nil, errors.New("no chunk querier")
}

type handlerRoundTripper struct{ h http.Handler }

func (rt handlerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	rt.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// check compares one query's answers, direct and through the frontend
// (twice: the second from the results cache), over q.
func (d *frontendDiff) check(t testing.TB, q storage.Queryable, path string, form url.Values) {
	t.Helper()
	h, ok := d.handlers[q]
	if !ok {
		h = handlerRoundTripper{apiHandler(d.engine, queryrangetest.Sharding(q))}
		d.handlers[q] = h
	}
	send := func(rt http.RoundTripper, id tenant.ID) (int, []byte) {
		req, err := http.NewRequestWithContext(tenant.WithID(context.Background(), id), http.MethodPost, "http://frontend"+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, []byte(readAll(resp))
	}
	// A tenant per query: scripts load more data between evaluations, which
	// the results cache (with no freshness limit here) would not see.
	id := tenant.ID("t" + strconv.FormatInt(d.tenants.Add(1), 10))
	wantStatus, want := send(h, id)
	fe := d.mw.Wrap(h)
	for pass := range 2 {
		status, got := send(fe, id)
		if wantStatus != http.StatusOK {
			if strings.Contains(string(want), "too many samples") {
				// The samples limit applies to each split part and shard, as in
				// Cortex and Mimir: a split query may fit where the whole did not.
				continue
			}
			require.NotEqual(t, http.StatusOK, status, "%s %v: the querier fails (%s), the frontend answered %s", path, form, want, got)
			continue
		}
		require.Equal(t, http.StatusOK, status, "%s %v (pass %d): %s", path, form, pass, got)
		compareAnswers(t, want, got, byValue(form.Get("query")), fmt.Sprintf("%s %v pass %d", path, form, pass))
	}
	d.checked.Add(1)
}

func readAll(r *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// byValue: topk and bottomk may pick other series among equal values.
func byValue(q string) bool {
	return strings.Contains(q, "topk") || strings.Contains(q, "bottomk") || strings.Contains(q, "limitk") || strings.Contains(q, "limit_ratio")
}

type apiAnswer struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func compareAnswers(t testing.TB, want, got []byte, byValue bool, what string) {
	t.Helper()
	var w, g apiAnswer
	require.NoError(t, json.Unmarshal(want, &w))
	require.NoError(t, json.Unmarshal(got, &g), "%s", got)
	require.Equal(t, w.Data.ResultType, g.Data.ResultType, what)
	switch w.Data.ResultType {
	case "matrix":
		var wm, gm model.Matrix
		require.NoError(t, json.Unmarshal(w.Data.Result, &wm))
		require.NoError(t, json.Unmarshal(g.Data.Result, &gm))
		if byValue {
			require.Equal(t, valuesPerStep(wm), valuesPerStep(gm), what)
			return
		}
		sort.Sort(wm)
		sort.Sort(gm)
		require.Len(t, gm, len(wm), "%s\nwant %s\ngot  %s", what, want, got)
		for i := range wm {
			require.Equal(t, wm[i].Metric, gm[i].Metric, what)
			require.Len(t, gm[i].Values, len(wm[i].Values), "%s %s", what, wm[i].Metric)
			for j := range wm[i].Values {
				require.Equal(t, wm[i].Values[j].Timestamp, gm[i].Values[j].Timestamp, "%s %s", what, wm[i].Metric)
				requireClose(t, float64(wm[i].Values[j].Value), float64(gm[i].Values[j].Value), "%s %s", what, wm[i].Metric)
			}
			requireSameJSON(t, wm[i].Histograms, gm[i].Histograms, "%s %s", what, wm[i].Metric)
		}
	case "vector":
		var wv, gv model.Vector
		require.NoError(t, json.Unmarshal(w.Data.Result, &wv))
		require.NoError(t, json.Unmarshal(g.Data.Result, &gv))
		require.Len(t, gv, len(wv), "%s\nwant %s\ngot  %s", what, want, got)
		if byValue {
			m := func(v model.Vector) model.Matrix {
				var out model.Matrix
				for _, s := range v {
					out = append(out, &model.SampleStream{Values: []model.SamplePair{{Timestamp: s.Timestamp, Value: s.Value}}})
				}
				return out
			}
			require.Equal(t, valuesPerStep(m(wv)), valuesPerStep(m(gv)), what)
			return
		}
		sort.Slice(wv, func(i, j int) bool { return wv[i].Metric.Before(wv[j].Metric) })
		sort.Slice(gv, func(i, j int) bool { return gv[i].Metric.Before(gv[j].Metric) })
		for i := range wv {
			require.Equal(t, wv[i].Metric, gv[i].Metric, what)
			require.Equal(t, wv[i].Timestamp, gv[i].Timestamp, what)
			requireClose(t, float64(wv[i].Value), float64(gv[i].Value), "%s %s", what, wv[i].Metric)
			requireSameJSON(t, wv[i].Histogram, gv[i].Histogram, "%s %s", what, wv[i].Metric)
		}
	default:
		require.JSONEq(t, string(w.Data.Result), string(g.Data.Result), what)
	}
}

// requireSameJSON compares histograms as the API writes them (NaN equals
// NaN there).
func requireSameJSON(t testing.TB, want, got any, msgAndArgs ...any) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.Equal(t, string(w), string(g), msgAndArgs...)
}

// valuesPerStep rounds values to 12 significant digits, so sums in
// another order compare equal.
func valuesPerStep(m model.Matrix) map[model.Time][]string {
	out := map[model.Time][]string{}
	for _, s := range m {
		for _, p := range s.Values {
			out[p.Timestamp] = append(out[p.Timestamp], strconv.FormatFloat(float64(p.Value), 'g', 12, 64))
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func requireClose(t testing.TB, want, got float64, msgAndArgs ...any) {
	t.Helper()
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		require.Equal(t, math.IsNaN(want), math.IsNaN(got), msgAndArgs...)
	case want == got:
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		require.Equal(t, want, got, msgAndArgs...)
	default:
		require.InEpsilon(t, want, got, 1e-12, msgAndArgs...)
	}
}

// diffEngine is a promql.QueryEngine for promqltest: each query is
// evaluated by the plain engine (what the script checks) and compared with
// the frontend's answer.
type diffEngine struct {
	d *frontendDiff
	t testing.TB
}

func (e diffEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	inner, err := e.d.engine.NewInstantQuery(ctx, q, opts, qs, ts)
	if err != nil {
		return nil, err
	}
	return &diffQuery{Query: inner, check: func() {
		e.d.check(e.t, q, "/api/v1/query", url.Values{"query": {qs}, "time": {formatTime(ts)}})
	}}, nil
}

func (e diffEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	inner, err := e.d.engine.NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	if err != nil {
		return nil, err
	}
	return &diffQuery{Query: inner, check: func() {
		e.d.check(e.t, q, "/api/v1/query_range", url.Values{"query": {qs}, "start": {formatTime(start)}, "end": {formatTime(end)}, "step": {strconv.FormatFloat(interval.Seconds(), 'f', -1, 64)}})
	}}, nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

type diffQuery struct {
	promql.Query
	check func()
}

func (q *diffQuery) Exec(ctx context.Context) *promql.Result {
	res := q.Query.Exec(ctx)
	q.check()
	return res
}

// TestFrontendMatchesUpstreamScripts runs Prometheus's PromQL test scripts
// and compares every evaluation through the frontend (split, cached,
// sharded) with the plain engine's.
// frontendKnownDiffs are the evaluations whose frontend answer differs, by
// file and line, with the reason.
var frontendKnownDiffs = map[string]map[int]string{
	// The script's engine removes __name__ at the end of the query
	// (EnableDelayedNameRemoval, off in Hearth's querier): a shard query
	// ends where the whole query did not, so the name goes before
	// label_replace could read it.
	"name_label_dropping.test": {115: "delayed name removal crosses the shard boundary"},
	// 2 + 8 + 1e100 - 1e100: each shard's Kahan-compensated sum rounds its
	// compensation away before the shards are added (Mimir's sharding has
	// the same limit).
	"aggregators.test": {
		722: "Kahan compensation does not cross shards",
		730: "Kahan compensation does not cross shards (avg of the same data)",
	},
}

func TestFrontendMatchesUpstreamScripts(t *testing.T) {
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	dir := upstreamTestdata(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.test"))
	require.NoError(t, err)
	var total int64
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			if name == "start_timestamps.test" {
				t.Skip("the plain test storage keeps no start timestamps either")
			}
			d := newFrontendDiff(t, engine, 4)
			content, err := os.ReadFile(path)
			require.NoError(t, err)
			promqltest.RunTestWithStorage(t, skipEvals(t, string(content), frontendKnownDiffs[name]), diffEngine{d: d, t: t}, func(tb testing.TB) storage.Storage { return teststorage.New(tb) })
			total += d.checked.Load()
		})
	}
	t.Logf("%d evaluations compared", total)
}

// TestFrontendMatchesEngineRandomQueries compares random queries
// (promqlsmith) through the frontend with the plain engine's answers.
// wellConditionedAggrs are the aggregations the random queries use: all of
// promqlsmith's but stddev, stdvar and count_values. A sharded sum differs
// from the plain one in the last bits (another order of additions), and
// those three turn that into more than any fixed relative tolerance: the
// variance of nearly equal values cancels to a few significant bits, and
// count_values makes a label of the float's exact digits (seen: seeds
// 1796193833944014492 and one in a stdvar over tan). The promqltest
// differential above still runs them, over data where they are exact.
var wellConditionedAggrs = []parser.ItemType{
	parser.SUM, parser.MIN, parser.MAX, parser.AVG, parser.COUNT, parser.GROUP,
	parser.TOPK, parser.BOTTOMK, parser.QUANTILE,
}

// wellConditionedFunctions are promqlsmith's default functions but the
// trigonometric ones with poles (tan, and the hyperbolic and inverse ones
// that grow without bound near their domain's edge), which amplify a
// last-bit difference the same way.
func wellConditionedFunctions() []*parser.Function {
	illConditioned := map[string]bool{"tan": true, "atanh": true, "acosh": true, "sinh": true, "cosh": true, "exp": true}
	var fns []*parser.Function
	for _, f := range parser.Functions {
		if f.Experimental || f.Name == "holt_winters" || illConditioned[f.Name] {
			continue
		}
		fns = append(fns, f)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	return fns
}

func TestFrontendMatchesEngineRandomQueries(t *testing.T) {
	engine := promqltest.NewTestEngine(t, false, 0, 50_000_000)
	var load strings.Builder
	load.WriteString("load 30s\n")
	for i := range 40 {
		fmt.Fprintf(&load, "  http_requests_total{job=\"j%d\", instance=\"i%d\", code=\"%d\"} %d+%dx480\n", i%4, i, 200+100*(i%3), i, 1+i%7)
		fmt.Fprintf(&load, "  memory_bytes{job=\"j%d\", instance=\"i%d\"} %d+%dx100 _x%d %d-%dx300\n", i%4, i, 100*i, i%5, 3+i%5, 1000+i, i%3)
	}
	for i := range 6 {
		fmt.Fprintf(&load, "  rpc_seconds{job=\"j%d\"} {{schema:0 sum:%d count:4 buckets:[1 2 1]}}+{{schema:0 sum:2 count:1 buckets:[1]}}x480\n", i%4, i)
	}
	st := promqltest.LoadedStorage(t, load.String())
	var series []labels.Labels
	q, err := st.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	for ss.Next() {
		series = append(series, ss.At().Labels())
	}
	require.NoError(t, q.Close())

	seed := time.Now().UnixNano()
	if s := os.Getenv("HEARTH_PROMQLSMITH_SEED"); s != "" {
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("Seed %d (set HEARTH_PROMQLSMITH_SEED to repeat)", seed)
	rnd := rand.New(rand.NewSource(seed))
	smith := promqlsmith.New(rnd, series,
		promqlsmith.WithEnableOffset(true),
		promqlsmith.WithEnableAtModifier(true),
		promqlsmith.WithAtModifierMaxTimestamp((4 * time.Hour).Milliseconds()),
		promqlsmith.WithEnableVectorMatching(true),
		promqlsmith.WithEnabledAggrs(wellConditionedAggrs),
		promqlsmith.WithEnabledFunctions(wellConditionedFunctions()),
	)
	d := newFrontendDiff(t, engine, 4)
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := range n {
		expr := smith.WalkRangeQuery()
		qs := expr.String()
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			start := time.Duration(rnd.Int63n(int64(2*time.Hour/time.Second))) * time.Second
			step := []time.Duration{15 * time.Second, time.Minute, 7 * time.Minute}[rnd.Intn(3)]
			end := start + time.Duration(1+rnd.Intn(160))*step
			d.check(t, st, "/api/v1/query_range", url.Values{"query": {qs}, "start": {formatTime(time.Unix(0, 0).Add(start))}, "end": {formatTime(time.Unix(0, 0).Add(end))}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}})
			at := time.Unix(0, 0).Add(time.Duration(rnd.Int63n(int64(4 * time.Hour))))
			d.check(t, st, "/api/v1/query", url.Values{"query": {smith.WalkInstantQuery().String()}, "time": {formatTime(at)}})
		})
	}
}
