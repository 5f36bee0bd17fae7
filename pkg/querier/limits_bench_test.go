package querier

import (
	"context"
	"fmt"
	"runtime"
	runtimemetrics "runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/promqlshape"
)

// heapPeak samples the heap's object bytes (live and not yet collected:
// what the process holds) every 200µs until stop, and returns the most
// seen above the level at the start.
func heapPeak() (stop func() uint64) {
	sample := []runtimemetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		runtimemetrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	var (
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		if v := read(); v > peak {
			peak = v
		}
		return peak - min(base, peak)
	}
}

// BenchmarkQueryMemoryAtLimits measures what the queries that the step
// limits still accept cost in memory: count_over_time(vector(1)[X:1s]),
// one series whose every step is a sample, as an instant query at
// -querier.max-subquery-steps and as a range query at
// -querier.max-query-steps (defaults). It reports the bytes allocated and
// the peak of the heap's object bytes above the level before the query,
// per query and per evaluated step. docs/security.md quotes them.
func BenchmarkQueryMemoryAtLimits(b *testing.B) {
	l := defaultLimits()
	cfg := defaultConfig()
	engine := promql.NewEngine(EngineOpts(cfg, nil, nil, newConcurrencyLimiter(cfg.MaxConcurrent), false))
	b.Cleanup(func() { require.NoError(b, engine.Close()) })
	noData := storage.QueryableFunc(func(int64, int64) (storage.Querier, error) { return storage.NoopQuerier(), nil })
	end := time.Unix(2_000_000_000, 0)
	sub := time.Duration(l.MaxSubquerySteps) * time.Second
	// The longest range at the most steps whose evaluated steps stay
	// within -querier.max-query-steps.
	const outerSteps = 11_000
	outerStep := (time.Duration(l.MaxQuerySteps-outerSteps-1)*time.Second - sub) / (outerSteps - 1)
	outerStep = outerStep.Truncate(time.Second)
	tests := []struct {
		name       string
		span, step time.Duration
		expr       string
	}{
		{name: "instant/subquery_steps=1000", expr: "count_over_time(vector(1)[1000s:1s])"},
		{name: fmt.Sprintf("instant/subquery_steps=%d", l.MaxSubquerySteps), expr: fmt.Sprintf("count_over_time(vector(1)[%ds:1s])", l.MaxSubquerySteps)},
		{name: "range/query_steps=max", span: (outerSteps - 1) * outerStep, step: outerStep, expr: fmt.Sprintf("count_over_time(vector(1)[%ds:1s])", l.MaxSubquerySteps)},
	}
	for _, tc := range tests {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(tc.expr)
		require.NoError(b, err)
		steps := countSteps(expr, tc.span, tc.step, defaultSubqueryStep).total
		require.LessOrEqual(b, steps, int64(l.MaxQuerySteps))
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			var peak uint64
			b.ReportAllocs()
			for b.Loop() {
				stop := heapPeak()
				var qry promql.Query
				var err error
				if tc.step == 0 {
					qry, err = engine.NewInstantQuery(ctx, noData, nil, tc.expr, end)
				} else {
					qry, err = engine.NewRangeQuery(ctx, noData, nil, tc.expr, end.Add(-tc.span), end, tc.step)
				}
				require.NoError(b, err)
				res := qry.Exec(ctx)
				require.NoError(b, res.Err)
				qry.Close()
				peak = max(peak, stop())
			}
			b.ReportMetric(float64(peak), "peak-heap-B/op")
			b.ReportMetric(float64(steps), "steps/op")
			b.ReportMetric(float64(peak)/float64(steps), "peak-heap-B/step")
		})
	}
}

// BenchmarkQueryMemoryPerSample measures the memory of the samples a query
// holds, which -querier.max-samples bounds: a 1h range query at a 15s step
// over 2,000 series of a local head (482,000 samples held).
func BenchmarkQueryMemoryPerSample(b *testing.B) {
	const nSeries = 2000
	ref := teststorage.New(b)
	app := ref.Appender(context.Background())
	for s := range nSeries {
		lset := labels.FromStrings("__name__", "m", "job", fmt.Sprint(s%10), "i", fmt.Sprint(s))
		for p := range 280 {
			_, err := app.Append(0, lset, int64(p)*15_000, float64(p))
			require.NoError(b, err)
		}
	}
	require.NoError(b, app.Commit())
	end := time.UnixMilli(279 * 15_000)
	cfg := defaultConfig()
	engine := promql.NewEngine(EngineOpts(cfg, nil, nil, newConcurrencyLimiter(cfg.MaxConcurrent), false))
	b.Cleanup(func() { require.NoError(b, engine.Close()) })
	ctx := context.Background()
	var peak uint64
	const samples = nSeries * 241
	b.ReportAllocs()
	for b.Loop() {
		stop := heapPeak()
		qry, err := engine.NewRangeQuery(ctx, ref, nil, "m", end.Add(-time.Hour), end, 15*time.Second)
		require.NoError(b, err)
		res := qry.Exec(ctx)
		require.NoError(b, res.Err)
		require.Len(b, res.Value.(promql.Matrix), nSeries)
		qry.Close()
		peak = max(peak, stop())
	}
	b.ReportMetric(float64(peak), "peak-heap-B/op")
	b.ReportMetric(float64(peak)/samples, "peak-heap-B/sample")
}

// BenchmarkExpressionAtLimits measures the pre-parse scan and the parse of
// the worst expressions the default expression limits accept (see
// [worstAcceptedExpressions]). docs/security.md quotes them.
func BenchmarkExpressionAtLimits(b *testing.B) {
	l := defaultLimits()
	for name, qs := range worstAcceptedExpressions(l.MaxQueryExpressionTokens, l.MaxQueryExpressionDepth) {
		shape := promqlshape.Scan(qs, 0, 0)
		require.LessOrEqual(b, shape.Tokens, l.MaxQueryExpressionTokens, name)
		require.LessOrEqual(b, shape.Depth, l.MaxQueryExpressionDepth, name)
		require.LessOrEqual(b, len(qs), l.MaxQueryExpressionSizeBytes, name)
		b.Run(name+"/scan", func(b *testing.B) {
			b.SetBytes(int64(len(qs)))
			for b.Loop() {
				promqlshape.Scan(qs, l.MaxQueryExpressionTokens, l.MaxQueryExpressionDepth)
			}
		})
		b.Run(name+"/parse", func(b *testing.B) {
			b.SetBytes(int64(len(qs)))
			p := parser.NewParser(parser.Options{})
			for b.Loop() {
				_, err := p.ParseExpr(qs)
				require.NoError(b, err)
			}
		})
	}
}

// worstAcceptedExpressions are expressions at the token and depth limits
// given. The parser's time grows with each node's depth, so the worst are
// chains of operators as long as the depth allows: "chains" joins ten
// parenthesised chains of scalar additions (1+1+…) with as many tokens as
// allowed, "or" is one chain of vector selectors, "nested" parentheses
// only.
func worstAcceptedExpressions(maxTokens, maxDepth int) map[string]string {
	const k = 10
	// k groups of m additions joined by k-1 more: k+m+1 deep, k(2m+3)+k-1
	// tokens.
	m := min(maxDepth-k-1, (maxTokens-k+1)/k/2-2)
	group := "(1" + strings.Repeat("+1", m) + ")"
	chains := group + strings.Repeat("+"+group, k-1)
	n := min(maxDepth-1, (maxTokens-1)/2)
	or := "up" + strings.Repeat(" or up", n)
	nested := strings.Repeat("(", maxDepth-1) + "1" + strings.Repeat(")", maxDepth-1)
	return map[string]string{"chains": chains, "or": or, "nested": nested}
}
