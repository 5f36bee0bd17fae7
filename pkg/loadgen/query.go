package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"golang.org/x/time/rate"
)

// queryDef is one entry of the query mix.
type queryDef struct {
	class  string
	expr   string
	ids    int           // > 0: expr has a %d replaced by a random series_id below ids
	window time.Duration // 0: instant query
	step   time.Duration
	weight int
}

// queryMix returns the queries of a run over the series cfg generates:
// 25% instant (cheap: one series; medium: an aggregation over the first
// metric name; heavy: a histogram quantile or an aggregation over every
// metric name) and 75% range (1h at a 15s step, 6h at 1m), in the spirit of
// the Mimir k6 read mix.
func queryMix(cfg *Config) []queryDef {
	gauges := int(float64(cfg.Series)*cfg.GaugeFraction + 0.5)
	counters := cfg.Series - gauges
	var cheap, medium, heavy string
	ids := min(cfg.SeriesPerMetric, max(counters, gauges, cfg.ClassicHistograms, cfg.NativeHistograms))
	switch {
	case counters > 0:
		cheap = counterPrefix + "0_total{series_id=\"%d\"}"
		medium = "sum by (cardinality_1e1) (rate(" + counterPrefix + "0_total[5m]))"
		heavy = "sum by (cardinality_1e3) (rate({__name__=~\"" + counterPrefix + ".+\"}[5m]))"
		ids = min(ids, counters)
	case gauges > 0:
		cheap = gaugePrefix + "0{series_id=\"%d\"}"
		medium = "avg by (cardinality_1e1) (avg_over_time(" + gaugePrefix + "0[5m]))"
		heavy = "max by (cardinality_1e3) (max_over_time({__name__=~\"" + gaugePrefix + ".+\"}[5m]))"
		ids = min(ids, gauges)
	case cfg.ClassicHistograms > 0:
		cheap = classicPrefix + "0_count{series_id=\"%d\"}"
		medium = "sum by (cardinality_1e1) (rate(" + classicPrefix + "0_count[5m]))"
		ids = min(ids, cfg.ClassicHistograms)
	default:
		cheap = nativePrefix + "0{series_id=\"%d\"}"
		medium = "sum by (cardinality_1e1) (histogram_count(rate(" + nativePrefix + "0[5m])))"
		ids = min(ids, cfg.NativeHistograms)
	}
	switch {
	case cfg.ClassicHistograms > 0:
		heavy = "histogram_quantile(0.99, sum by (le) (rate(" + classicPrefix + "0_bucket[5m])))"
	case cfg.NativeHistograms > 0:
		heavy = "histogram_quantile(0.99, sum(rate(" + nativePrefix + "0[5m])))"
	}
	return []queryDef{
		{class: "instant_cheap", expr: cheap, ids: max(ids, 1), weight: 15},
		{class: "instant_medium", expr: medium, weight: 5},
		{class: "instant_heavy", expr: heavy, weight: 5},
		{class: "range1h_medium", expr: medium, window: time.Hour, step: 15 * time.Second, weight: 35},
		{class: "range1h_heavy", expr: heavy, window: time.Hour, step: 15 * time.Second, weight: 25},
		{class: "range6h_medium", expr: medium, window: 6 * time.Hour, step: time.Minute, weight: 15},
	}
}

// render fills the series_id of q with a random id below q.ids.
func (q queryDef) render(rng *rand.Rand) string {
	if q.ids == 0 {
		return q.expr
	}
	return fmt.Sprintf(q.expr, rng.IntN(q.ids))
}

// headerTransport adds a tenant's headers to every query.
type headerTransport struct {
	cfg    *Config
	tenant string
	next   http.RoundTripper
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	authHeaders(r.Header, t.cfg, t.tenant)
	return t.next.RoundTrip(r)
}

// querier runs the query mix at cfg.QueryRate until ctx ends.
type querier struct {
	cfg  *Config
	st   *stats
	apis []v1.API // one per tenant
	mix  []queryDef
	now  func() time.Time // the evaluation time: the newest pushed tick
}

func newQuerier(cfg *Config, st *stats, now func() time.Time) (*querier, error) {
	q := &querier{cfg: cfg, st: st, mix: queryMix(cfg), now: now}
	rt := newHTTPClient(cfg.QueryConcurrency).Transport
	for _, tenant := range cfg.tenantNames() {
		c, err := api.NewClient(api.Config{Address: cfg.QueryURL, RoundTripper: headerTransport{cfg: cfg, tenant: tenant, next: rt}})
		if err != nil {
			return nil, fmt.Errorf("creating query client: %w", err)
		}
		q.apis = append(q.apis, v1.NewAPI(c))
	}
	return q, nil
}

func (q *querier) run(ctx context.Context) {
	lim := rate.NewLimiter(rate.Limit(q.cfg.QueryRate), 1)
	sem := make(chan struct{}, q.cfg.QueryConcurrency)
	rng := rand.New(rand.NewPCG(q.cfg.Seed, 0x9e3779b9))
	total := 0
	for _, d := range q.mix {
		total += d.weight
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if err := lim.Wait(ctx); err != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		pick := rng.IntN(total)
		var d queryDef
		for _, d = range q.mix {
			if pick < d.weight {
				break
			}
			pick -= d.weight
		}
		expr := d.render(rng)
		a := q.apis[rng.IntN(len(q.apis))]
		wg.Go(func() {
			defer func() { <-sem }()
			q.one(a, d, expr)
		})
	}
}

// one runs a query on its own timeout, so the end of the run lets queries
// in flight finish.
func (q *querier) one(a v1.API, d queryDef, expr string) {
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.Timeout)
	defer cancel()
	end := q.now()
	start := time.Now()
	var err error
	if d.window == 0 {
		_, _, _, err = a.Query(ctx, expr, end)
	} else {
		_, _, _, err = a.QueryRange(ctx, expr, v1.Range{Start: end.Add(-d.window), End: end, Step: d.step})
	}
	if err != nil {
		var apiErr *v1.Error
		kind := "error"
		if errors.As(err, &apiErr) {
			kind = string(apiErr.Type)
		}
		q.st.queryErrors.inc(d.class + " " + kind)
		return
	}
	q.st.queryLatencies(d.class).record(time.Since(start))
}
