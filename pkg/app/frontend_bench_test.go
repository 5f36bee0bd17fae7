package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// dashboardPanels are the ten panels of a Grafana-like dashboard.
var dashboardPanels = []string{
	`sum(rate(http_requests_total[5m]))`,
	`sum by (job) (rate(http_requests_total[5m]))`,
	`sum by (instance) (rate(http_requests_total[5m]))`,
	`max by (job) (rate(http_requests_total[5m]))`,
	`min by (job) (rate(http_requests_total[5m]))`,
	`count by (job) (http_requests_total)`,
	`avg by (job) (rate(http_requests_total[5m]))`,
	`topk(5, sum by (instance) (rate(http_requests_total[5m])))`,
	`sum(increase(http_requests_total[1h]))`,
	`sum by (job) (rate(http_requests_total[5m])) / ignoring(job) group_left sum(rate(http_requests_total[5m]))`,
}

// BenchmarkDashboardRefresh refreshes a 10-panel dashboard (range queries
// over the last 7 days at a 1m step, Grafana's end=now aligned to the
// step) over 10,000 counters backfilled into the all-in-one's chunk store
// (a sample every 2 minutes: 50M samples, 4h XOR chunks), and reports the
// p50 and p99 of one refresh (all ten panels, one after the other):
//
//   - "querier alone": the querier's HTTP API in-process, no frontend;
//   - "prometheus": Prometheus's engine over a Prometheus TSDB holding the
//     same samples in this process, its result encoded as JSON;
//   - "frontend": the all-in-one's public HTTP API over loopback (frontend,
//     queue, in-process querier workers): first-load-s is the first,
//     cold-cache load; p50-s and p99-s are warm refreshes. Grafana refreshes
//     every 30s; whenever the refresh comes, the frontend recomputes only
//     what is newer than max_cache_freshness (10m) and the new steps, so
//     the refreshes here follow each other at once.
//
// The benchmark's configuration raises -querier.max-samples to 500M (the
// default 20M refuses most panels: a 7-day range at 1m is 10,080 steps of
// 10,000 series) and -querier.timeout to 30m, lifts the per-query series
// and chunk limits, and asks the store for the whole range
// (-querier.query-store-after=0): the ingesters are empty.
//
//	HEARTH_BENCH_DASHBOARD=1 go test -run '^$' -bench BenchmarkDashboardRefresh -benchtime=1x -timeout=3h -v ./pkg/app/
//
// (make bench-frontend). Without HEARTH_BENCH_DASHBOARD it skips: one run
// takes far longer than make test's whole budget.
//
// (-benchtime=1x: one refresh of the querier alone and of Prometheus,
// ten warm refreshes through the frontend; on 2 idle cores a refresh of
// the querier alone takes minutes.)
func BenchmarkDashboardRefresh(b *testing.B) {
	if os.Getenv("HEARTH_BENCH_DASHBOARD") == "" {
		b.Skip("set HEARTH_BENCH_DASHBOARD=1 (make bench-frontend): 50M samples, a run takes tens of minutes")
	}
	const (
		series   = 10_000
		span     = 7 * 24 * time.Hour
		scrape   = 2 * time.Minute
		step     = time.Minute
		chunkLen = 4 * time.Hour
	)
	a := startBenchApp(b,
		"-querier.max-samples=500000000",
		"-querier.timeout=30m",
		"-querier.max-series-per-query=0",
		"-querier.max-chunks-per-query=0",
		"-querier.max-chunk-bytes-per-query=0",
		"-querier.query-store-after=0s",
	)
	cfg := a.cfg

	const id = "bench"
	ctx := tenant.WithID(context.Background(), id)
	end := time.Now().Truncate(scrape)
	first := end.Add(-span)
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "http_requests_total", "job", fmt.Sprintf("j%d", i%10), "instance", fmt.Sprintf("i%d", i%500), "pod", fmt.Sprintf("p%d", i))
	}
	value := func(i int, ts time.Time) float64 { return float64(int(ts.Sub(first)/scrape) * (1 + i%7)) }

	// The store: each series' samples as 4h XOR chunks, aligned on 4h.
	var batch []chunk.SeriesChunks
	for i, ls := range lsets {
		sc := chunk.SeriesChunks{Labels: ls}
		for from := first.Truncate(chunkLen); from.Before(end.Add(time.Nanosecond)); from = from.Add(chunkLen) {
			c := chunkenc.NewXORChunk()
			app, err := c.Appender()
			require.NoError(b, err)
			var mint, maxt int64 = -1, 0
			for ts := from; ts.Before(from.Add(chunkLen)) && !ts.After(end); ts = ts.Add(scrape) {
				if ts.Before(first) {
					continue
				}
				if mint < 0 {
					mint = ts.UnixMilli()
				}
				maxt = ts.UnixMilli()
				app.Append(0, maxt, value(i, ts))
			}
			if mint >= 0 {
				sc.Chunks = append(sc.Chunks, chunk.Chunk{MinTime: mint, MaxTime: maxt, Encoding: chunkenc.EncXOR, Data: slices.Clone(c.Bytes())})
			}
		}
		batch = append(batch, sc)
		if len(batch) == 500 || i == len(lsets)-1 {
			_, err := a.store.WriteSeries(context.Background(), id, batch)
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
	// Prometheus: the same samples in a TSDB, appended in time order.
	ref := teststorage.New(b)
	for ts := first; !ts.After(end); ts = ts.Add(scrape) {
		app := ref.Appender(ctx)
		for i, ls := range lsets {
			_, err := app.Append(0, ls, ts.UnixMilli(), value(i, ts))
			require.NoError(b, err)
		}
		require.NoError(b, app.Commit())
	}
	peer := promql.NewEngine(promql.EngineOpts{MaxSamples: 500_000_000, Timeout: 30 * time.Minute, LookbackDelta: 5 * time.Minute})
	b.Cleanup(func() { _ = peer.Close() })

	form := func(q string) url.Values {
		e := time.Now().Truncate(step)
		return url.Values{"query": {q}, "start": {strconv.FormatInt(e.Add(-span).Unix(), 10)}, "end": {strconv.FormatInt(e.Unix(), 10)}, "step": {"60"}}
	}
	querierAlone := func(q string) error {
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, cfg.Querier.HTTPPrefix+"/api/v1/query_range", strings.NewReader(form(q).Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		a.querier.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			return fmt.Errorf("%s: %d %.300s", q, w.Code, w.Body.String())
		}
		return nil
	}
	prom := func(q string) error {
		e := time.Now().Truncate(step)
		qry, err := peer.NewRangeQuery(ctx, ref, nil, q, e.Add(-span), e, step)
		if err != nil {
			return err
		}
		defer qry.Close()
		res := qry.Exec(ctx)
		if res.Err != nil {
			return fmt.Errorf("%s: %w", q, res.Err)
		}
		_, err = json.Marshal(res.Value)
		return err
	}
	frontendURL := "http://" + a.HTTPAddr() + cfg.Querier.HTTPPrefix + "/api/v1/query_range"
	viaFrontend := func(q string) error {
		r, err := http.NewRequest(http.MethodPost, frontendURL, strings.NewReader(form(q).Encode()))
		if err != nil {
			return err
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Scope-OrgID", id)
		r.Header.Set("Accept-Encoding", "gzip") // as Grafana
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d %.300s", q, resp.StatusCode, body)
		}
		return err
	}
	refresh := func(b *testing.B, send func(string) error) time.Duration {
		start := time.Now()
		for _, q := range dashboardPanels {
			p := time.Now()
			require.NoError(b, send(q))
			if d := time.Since(p); d > 10*time.Second {
				b.Logf("slow panel, %s: %s", d, q)
			}
		}
		return time.Since(start)
	}
	p50s := map[string]float64{}
	report := func(b *testing.B, name string, ds []time.Duration) {
		slices.Sort(ds)
		p50, p99 := ds[(len(ds)-1)/2], ds[(len(ds)*99-1)/100]
		b.ReportMetric(p50.Seconds(), "p50-s")
		b.ReportMetric(p99.Seconds(), "p99-s")
		b.ReportMetric(0, "ns/op")
		p50s[name] = p50.Seconds()
		p50s[name+" p99"] = p99.Seconds()
	}
	// The frontend first: its first load is cold (the store's caches
	// too), and the querier alone then runs on warm store caches, which
	// can only flatter it.
	b.Run("frontend", func(b *testing.B) {
		firstLoad := refresh(b, viaFrontend)
		b.Logf("frontend first load: %s", firstLoad)
		var ds []time.Duration
		for b.Loop() {
			// Ten refreshes per iteration: they are cheap, and p99 wants many.
			for range 10 {
				ds = append(ds, refresh(b, viaFrontend))
			}
		}
		b.ReportMetric(firstLoad.Seconds(), "first-load-s")
		report(b, "frontend", ds)
	})
	for _, sys := range []struct {
		name string
		send func(string) error
	}{{"querier alone", querierAlone}, {"prometheus", prom}} {
		b.Run(sys.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				ds = append(ds, refresh(b, sys.send))
				b.Logf("%s refresh: %s", sys.name, ds[len(ds)-1])
			}
			report(b, sys.name, ds)
		})
	}
	if q, p, f := p50s["querier alone"], p50s["prometheus"], p50s["frontend"]; q > 0 && p > 0 && f > 0 {
		b.Logf("warm refresh p50: %.4fx the querier alone, %.4fx Prometheus; p99: %.4fx, %.4fx",
			f/q, f/p, p50s["frontend p99"]/p50s["querier alone p99"], p50s["frontend p99"]/p50s["prometheus p99"])
	}
}
