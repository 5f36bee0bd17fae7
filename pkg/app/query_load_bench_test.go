package app

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/querier"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// loadQuery is one class of the loadgen's query mix (pkg/loadgen's
// queryMix with counters and classic histograms, as bench.sh runs it).
type loadQuery struct {
	class  string
	expr   string // %d: a random series_id below 1,000
	window time.Duration
	step   time.Duration
}

var loadQueries = []loadQuery{
	{class: "instant_cheap", expr: `loadgen_counter_0_total{series_id="%d"}`},
	{class: "instant_medium", expr: `sum by (cardinality_1e1) (rate(loadgen_counter_0_total[5m]))`},
	{class: "instant_heavy", expr: `histogram_quantile(0.99, sum by (le) (rate(loadgen_histogram_0_bucket[5m])))`},
	{class: "range1h_medium", expr: `sum by (cardinality_1e1) (rate(loadgen_counter_0_total[5m]))`, window: time.Hour, step: 15 * time.Second},
	{class: "range1h_heavy", expr: `histogram_quantile(0.99, sum by (le) (rate(loadgen_histogram_0_bucket[5m])))`, window: time.Hour, step: 15 * time.Second},
	{class: "range6h_medium", expr: `sum by (cardinality_1e1) (rate(loadgen_counter_0_total[5m]))`, window: 6 * time.Hour, step: time.Minute},
}

// loadSeries returns the label sets of bench.sh's scenario 1 at a
// smaller or equal size: 1,000 classic histograms (14 series each, in
// loadgen_histogram_0_{bucket,sum,count}) and floats counters and gauges,
// 1,000 per metric name, with the loadgen's labels (series_id, cycle_id,
// cardinality_1e1…1e6, five constant labels).
func loadSeries(floats int) []labels.Labels {
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}
	b := labels.NewScratchBuilder(16)
	build := func(name string, id int, le string) labels.Labels {
		b.Reset()
		b.Add("__name__", name)
		pow := 1
		for k := 1; k <= 6; k++ {
			pow *= 10
			b.Add("cardinality_1e"+strconv.Itoa(k), strconv.Itoa(id%pow))
		}
		b.Add("cycle_id", "0")
		for l := range 5 {
			b.Add(fmt.Sprintf("label_%02d", l), fmt.Sprintf("value_%02d", l))
		}
		if le != "" {
			b.Add("le", le)
		}
		b.Add("series_id", strconv.Itoa(id))
		b.Sort()
		return b.Labels()
	}
	var out []labels.Labels
	for h := range 1000 {
		for _, le := range les {
			out = append(out, build("loadgen_histogram_0_bucket", h, le))
		}
		out = append(out, build("loadgen_histogram_0_sum", h, ""), build("loadgen_histogram_0_count", h, ""))
	}
	for s := range floats {
		name := "loadgen_counter_" + strconv.Itoa(s/2/1000) + "_total"
		if s%2 == 1 {
			name = "loadgen_gauge_" + strconv.Itoa(s/2/1000)
		}
		out = append(out, build(name, s/2, ""))
	}
	return out
}

// benchEnv reads an integer setting of the benchmark from the environment.
func benchEnv(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(b, err)
	return n
}

// BenchmarkQueryUnderLoad runs the loadgen's query classes on a head of
// HEARTH_BENCH_HEAD_SERIES float series plus 14,000 classic histogram
// series (200,000 + 14,000 is bench.sh's scenario 1) while a pusher keeps
// appending to every series of the same head (HEARTH_BENCH_PUSH_RATE
// samples/s, 2,000 series per push, 40,000 by default), on three
// systems, class by class so that each ratio is taken in one window:
//
//   - hearth-http: the all-in-one's public /prometheus API (query
//     frontend, its middlewares and in-process workers, querier, in-process
//     ingester); the results cache is off unless HEARTH_BENCH_CACHE=1, the
//     query being the same at every iteration;
//   - hearth-querier: the querier's engine over its Queryable, no HTTP;
//   - hearth-querier-stream: the same through QueryStream, as a cluster's
//     querier reads (the all-in-one's path before issue #18);
//   - hearth-http-shards16: hearth-http with the frontend's sharding;
//   - prometheus: Prometheus's engine over a TSDB head holding the same
//     samples, with the same concurrent appends.
//
// Each reports its p50 and p99 latency besides the mean.
// HEARTH_BENCH_CPUPROFILE and HEARTH_BENCH_TRACE name files for a CPU
// profile and an execution trace of the queries (not of the setup);
// HEARTH_BENCH_SYSTEMS (comma-separated) runs only some systems, and
// HEARTH_BENCH_ARGS adds flags to the all-in-one's.
//
//	HEARTH_BENCH_HEAD_SERIES=200000 go test -run '^$' -bench BenchmarkQueryUnderLoad -benchtime=30x ./pkg/app/
func BenchmarkQueryUnderLoad(b *testing.B) {
	const step = 15 * time.Second
	floats := benchEnv(b, "HEARTH_BENCH_HEAD_SERIES", 20_000)
	points := benchEnv(b, "HEARTH_BENCH_POINTS", 40)
	pushRate := benchEnv(b, "HEARTH_BENCH_PUSH_RATE", 40_000)
	args := []string{
		"-ingester.max-series-per-tenant=0",
		"-ingester.max-series-per-metric=0",
		"-querier.max-series-per-query=0",
		"-querier.max-chunks-per-query=0",
		"-self-monitoring.enabled=false",
	}
	if os.Getenv("HEARTH_BENCH_CACHE") != "1" {
		args = append(args, "-frontend.cache-results=false")
	}
	if extra := os.Getenv("HEARTH_BENCH_ARGS"); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	a := startBenchApp(b, args...)
	cfg := a.cfg

	ctx := tenant.WithID(context.Background(), "bench")
	ref := teststorage.New(b)
	series := loadSeries(floats)
	end := time.Now().Truncate(step)
	start := end.Add(-time.Duration(points-1) * step)
	// The pushes' labels and samples are built once, as the distributor
	// decodes into reused buffers: the pusher's own garbage would
	// otherwise weigh on Hearth's queries and not on Prometheus's.
	wire := make([]ingesterpb.TimeSeries, len(series))
	samples := make([]ingesterpb.Sample, len(series))
	for i, lset := range series {
		wire[i] = ingesterpb.TimeSeries{Labels: ingesterpb.FromLabels(lset), Samples: samples[i : i+1 : i+1]}
	}
	hearthAppend := func(t int64, from, to int) {
		for i := from; i < to; i++ {
			samples[i] = ingesterpb.Sample{TimestampMs: t, Value: float64(t/1000) * float64(i%12+1)}
		}
		_, err := a.ingester.Push(ctx, &ingesterpb.PushRequest{Timeseries: wire[from:to]})
		require.NoError(b, err)
	}
	promAppend := func(t int64, from, to int) {
		app := ref.Appender(ctx)
		for i := from; i < to; i++ {
			_, err := app.Append(0, series[i], t, float64(t/1000)*float64(i%12+1))
			require.NoError(b, err)
		}
		require.NoError(b, app.Commit())
	}
	const batch = 2000
	for p := range points {
		t := start.Add(time.Duration(p) * step).UnixMilli()
		for from := 0; from < len(series); from += batch {
			to := min(from+batch, len(series))
			hearthAppend(t, from, to)
			promAppend(t, from, to)
		}
	}

	peer := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: 2 * time.Minute, LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true})
	httpClient := &http.Client{Timeout: 2 * time.Minute}
	base := "http://" + a.HTTPAddr() + cfg.Querier.HTTPPrefix + "/api/v1/"
	viaHTTP := func(q loadQuery, expr string) error {
		v := url.Values{"query": {expr}}
		path := "query"
		if q.window == 0 {
			v.Set("time", strconv.FormatInt(end.Unix(), 10))
		} else {
			path = "query_range"
			v.Set("start", strconv.FormatInt(end.Add(-q.window).Unix(), 10))
			v.Set("end", strconv.FormatInt(end.Unix(), 10))
			v.Set("step", strconv.FormatInt(int64(q.step/time.Second), 10))
		}
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(v.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Scope-OrgID", "bench")
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	}
	viaEngine := func(engine promql.QueryEngine, qa storage.Queryable) func(loadQuery, string) error {
		return func(q loadQuery, expr string) error {
			var (
				qry promql.Query
				err error
			)
			if q.window == 0 {
				qry, err = engine.NewInstantQuery(ctx, qa, nil, expr, end)
			} else {
				qry, err = engine.NewRangeQuery(ctx, qa, nil, expr, end.Add(-q.window), end, q.step)
			}
			if err != nil {
				return err
			}
			defer qry.Close()
			res := qry.Exec(ctx)
			if res.Err != nil {
				return res.Err
			}
			if v, ok := res.Value.(promql.Matrix); ok && len(v) == 0 {
				return fmt.Errorf("%s: no result", expr)
			}
			return nil
		}
	}
	// Each head has its own clock of pushed rounds, after the preloaded
	// ones: its samples land after the queries' end, as a scrape's land
	// after the time a dashboard asked for.
	var hearthRounds, promRounds int64
	type system struct {
		name   string
		run    func(loadQuery, string) error
		append func(t int64, from, to int)
		rounds *int64
	}
	// hearth-http-shards16 is hearth-http with the tenant's queries
	// sharded 16 ways by the frontend (the default before issue #18).
	sharded := func(shards int) func(loadQuery, string) error {
		return func(q loadQuery, expr string) error {
			l := a.overrides.Defaults()
			l.QueryShardingTotalShards = shards
			a.overrides.Set(map[tenant.ID]*limits.Limits{"bench": &l})
			defer a.overrides.Set(nil)
			return viaHTTP(q, expr)
		}
	}
	// hearth-querier-stream is hearth-querier reading its ingester through
	// QueryStream (the path before issue #18 and that of a cluster),
	// instead of in place.
	pool, err := a.clientPool()
	require.NoError(b, err)
	viaStream, err := querier.New(a.cfg.Querier.Config, querier.Deps{
		Registerer: prometheus.NewRegistry(), Instances: a.ingesterRing, Clients: pool, Limits: a.overrides,
	})
	require.NoError(b, err)
	systems := []system{
		{"hearth-http", viaHTTP, hearthAppend, &hearthRounds},
		{"hearth-http-shards16", sharded(16), hearthAppend, &hearthRounds},
		{"hearth-querier", viaEngine(a.querier.Engine(), a.querier.Queryable()), hearthAppend, &hearthRounds},
		{"hearth-querier-stream", viaEngine(viaStream.Engine(), viaStream.Queryable()), hearthAppend, &hearthRounds},
		{"prometheus", viaEngine(peer, ref), promAppend, &promRounds},
	}
	if only := os.Getenv("HEARTH_BENCH_SYSTEMS"); only != "" {
		systems = slices.DeleteFunc(systems, func(s system) bool {
			return !slices.Contains(strings.Split(only, ","), s.name)
		})
	}
	// The setup's appends are left out of the profiles.
	if path := os.Getenv("HEARTH_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		require.NoError(b, err)
		require.NoError(b, pprof.StartCPUProfile(f))
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if path := os.Getenv("HEARTH_BENCH_TRACE"); path != "" {
		f, err := os.Create(path)
		require.NoError(b, err)
		require.NoError(b, trace.Start(f))
		defer func() { trace.Stop(); _ = f.Close() }()
	}
	for _, q := range loadQueries {
		for _, sys := range systems {
			b.Run(q.class+"/"+sys.name, func(b *testing.B) {
				pushCtx, stop := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				if pushRate > 0 {
					wg.Go(func() {
						lim := rate.NewLimiter(rate.Limit(pushRate), batch)
						for {
							t := end.Add(time.Duration(*sys.rounds+1) * step).UnixMilli()
							for from := 0; from < len(series); from += batch {
								to := min(from+batch, len(series))
								if lim.WaitN(pushCtx, to-from) != nil {
									return
								}
								sys.append(t, from, to)
							}
							*sys.rounds++
						}
					})
				}
				rng := rand.New(rand.NewPCG(1, 2))
				var lat []time.Duration
				b.ReportAllocs()
				for b.Loop() {
					expr := q.expr
					if strings.Contains(expr, "%d") {
						expr = fmt.Sprintf(expr, rng.IntN(1000))
					}
					t0 := time.Now()
					require.NoError(b, sys.run(q, expr))
					lat = append(lat, time.Since(t0))
				}
				stop()
				wg.Wait()
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}
