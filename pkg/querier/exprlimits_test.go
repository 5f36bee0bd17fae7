package querier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// limitedAPI is a querier over c with the per-tenant limits l, served on
// 127.0.0.1 behind the tenant header middleware.
type limitedAPI struct {
	base string // With the /prometheus prefix.
	reg  *prometheus.Registry
	q    *Querier
}

func startLimitedAPI(t *testing.T, c *cluster, l limits.Limits) *limitedAPI {
	t.Helper()
	cfg := defaultConfig()
	reg := prometheus.NewPedanticRegistry()
	q, err := New(cfg, Deps{Registerer: reg, Instances: c, Clients: c, Limits: limits.NewOverrides(l)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	srv := newTestServer(t, tenant.TrustHeader(q.Handler()))
	return &limitedAPI{base: srv + cfg.HTTPPrefix, reg: reg, q: q}
}

// evaluations is how many queries the engines have evaluated.
func (a *limitedAPI) evaluations(t *testing.T) int {
	t.Helper()
	mfs, err := a.reg.Gather()
	require.NoError(t, err)
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "prometheus_engine_query_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "slice" && lp.GetValue() == "inner_eval" {
					n += int(m.GetSummary().GetSampleCount())
				}
			}
		}
	}
	return n
}

func (a *limitedAPI) rejected(reason string) float64 {
	return testutil.ToFloat64(a.q.queryable.metrics.queriesRejected.WithLabelValues(reason))
}

func instantPath(q string) string {
	return "/api/v1/query?" + url.Values{"query": {q}, "time": {"2000000000"}}.Encode()
}

func rangePath(q string, start, end int64, step string) string {
	return "/api/v1/query_range?" + url.Values{"query": {q}, "start": {fmt.Sprint(start)}, "end": {fmt.Sprint(end)}, "step": {step}}.Encode()
}

// TestWorstQueriesAreRefusedBeforeEvaluation runs the queries that took the
// process down (issue 13, item 2) against the HTTP API with the default
// limits: each is refused with 400 naming the limit, its value, the actual
// and the tenant, and the engine never evaluates it.
func TestWorstQueriesAreRefusedBeforeEvaluation(t *testing.T) {
	api := startLimitedAPI(t, newCluster(t, 1), defaultLimits())
	const end = 2_000_000_000
	tests := map[string]struct {
		path      string
		reason    string
		wantError string
	}{
		"100 years of 1s steps (23.5 GB, killed)": {
			path: instantPath("count_over_time(vector(1)[100y:1s])"), reason: "max_subquery_steps",
			wantError: `the query has a subquery whose steps (range ÷ step) number 3153600000, over the limit -querier.max-subquery-steps=11000 of tenant "tenant-a"`,
		},
		"1 year of 1s steps (3.5 GiB before max-samples)": {
			path: instantPath("count_over_time(vector(1)[1y:1s])"), reason: "max_subquery_steps",
			wantError: "number 31536000, over the limit -querier.max-subquery-steps=11000",
		},
		"6 hours of 1ms steps (3 GiB, answered 200)": {
			path: instantPath("count_over_time(vector(1)[6h:1ms])"), reason: "max_subquery_steps",
			wantError: "number 21600000, over the limit -querier.max-subquery-steps=11000",
		},
		"subqueries within the step limit over a long range query": {
			path:   rangePath("count_over_time(vector(1)[1h:1s])", end-10_999*3600, end, "3600"),
			reason: "max_query_steps",
			// 11,000 steps, plus the subquery over 10,999h + 1h at 1s.
			wantError: `the query would evaluate a number of steps (its own plus every subquery's over its widened range) of 39611001, over the limit -querier.max-query-steps=1000000 of tenant "tenant-a"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := api.rejected(tc.reason)
			status, e := getJSON(t, api.base+tc.path, "tenant-a")
			require.Equal(t, http.StatusBadRequest, status, e.Error)
			require.Equal(t, "bad_data", e.ErrorType)
			require.Contains(t, e.Error, tc.wantError)
			require.Equal(t, before+1, api.rejected(tc.reason))
			require.Zero(t, api.evaluations(t), "refused before evaluation")
		})
	}

	// Within the limits, the same kind of query is answered.
	status, e := getJSON(t, api.base+instantPath("count_over_time(vector(1)[3h:1s])"), "tenant-a")
	require.Equal(t, http.StatusOK, status, e.Error)
	require.Equal(t, 1, api.evaluations(t))
}

func TestExpressionLimits(t *testing.T) {
	l := defaultLimits()
	api := startLimitedAPI(t, newCluster(t, 1), l)
	flat40KB := "1" + strings.Repeat("+1", 20_000)
	nested := strings.Repeat("(", 600) + "1" + strings.Repeat(")", 600)
	tests := map[string]struct {
		path      string
		wantError string // Empty: accepted.
	}{
		// A chain is as deep as it is long: the depth limit stops it
		// after 500 operators, before the lexer has read 1,000 tokens.
		"a flat 1+1+…+1 of 40 KB": {
			path:      "/api/v1/query?" + url.Values{"query": {flat40KB}}.Encode(),
			wantError: `the query expression's nesting depth is at least 501, over the limit -querier.max-query-expression-depth=500 of tenant "tenant-a"`,
		},
		"the same as a range query": {
			path:      rangePath(flat40KB, 0, 60, "15"),
			wantError: "-querier.max-query-expression-depth=500",
		},
		"the same to format_query": {
			path:      "/api/v1/format_query?" + url.Values{"query": {flat40KB}}.Encode(),
			wantError: "-querier.max-query-expression-depth=500",
		},
		"the same to parse_query": {
			path:      "/api/v1/parse_query?" + url.Values{"query": {flat40KB}}.Encode(),
			wantError: "-querier.max-query-expression-depth=500",
		},
		"the same to query_exemplars": {
			path:      "/api/v1/query_exemplars?" + url.Values{"query": {flat40KB}}.Encode(),
			wantError: "-querier.max-query-expression-depth=500",
		},
		"10,000 label matchers": {
			path:      instantPath("up{" + strings.Repeat(`a="b",`, 2500) + "}"),
			wantError: `the query expression's token count is at least 10001, over the limit -querier.max-query-expression-tokens=10000 of tenant "tenant-a"`,
		},
		"600 nested parentheses": {
			path:      instantPath(nested),
			wantError: `the query expression's nesting depth is at least 501, over the limit -querier.max-query-expression-depth=500 of tenant "tenant-a"`,
		},
		"a chain of 600 operators": {
			path:      instantPath("1" + strings.Repeat("*1", 600)),
			wantError: "-querier.max-query-expression-depth=500",
		},
		"an expression over 128 KiB": {
			path:      instantPath(`up{job="` + strings.Repeat("x", 128<<10) + `"}`),
			wantError: `the query expression's length in bytes is 131082, over the limit -querier.max-query-expression-size-bytes=131072 of tenant "tenant-a"`,
		},
		"the worst chains the limits accept": {
			path: instantPath(worstAcceptedExpressions(l.MaxQueryExpressionTokens, l.MaxQueryExpressionDepth)["chains"]),
		},
		"an ordinary query": {
			path: instantPath(`sum by (job) (rate(up{job=~"a|b"}[5m])) / on (job) group_left count(up) > 0.5`),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			status, e := getJSON(t, api.base+tc.path, "tenant-a")
			if tc.wantError == "" {
				require.Equal(t, http.StatusOK, status, e.Error)
				return
			}
			require.Less(t, time.Since(start), 2*time.Second, "refused before parsing")
			require.Equal(t, http.StatusBadRequest, status, e.Error)
			require.Equal(t, "bad_data", e.ErrorType)
			require.Contains(t, e.Error, tc.wantError)
		})
	}
	require.Zero(t, api.rejected("max_subquery_steps"))
	require.Equal(t, 1.0, api.rejected("max_query_expression_tokens"))
	require.Equal(t, 7.0, api.rejected("max_query_expression_depth"))
	require.Equal(t, 1.0, api.rejected("max_query_expression_size_bytes"))
}

// countingParser counts the expressions it parses.
type countingParser struct {
	parser.Parser
	n atomic.Int64
}

func (p *countingParser) ParseExpr(qs string) (parser.Expr, error) {
	p.n.Add(1)
	return p.Parser.ParseExpr(qs)
}

// TestExpressionIsParsedOnce: a query's expression was parsed by the
// query-length check and again by the engine.
func TestExpressionIsParsedOnce(t *testing.T) {
	c := newCluster(t, 1)
	end := time.Now().Truncate(time.Second)
	pushTestData(t, c, "tenant-a", 2, 1, end)
	l := defaultLimits()
	l.MaxQueryLength = 0
	api := startLimitedAPI(t, c, l)
	counting := &countingParser{Parser: api.q.parser.Parser}
	api.q.parser.Parser = counting
	for _, path := range []string{
		instantPath("sum(up)"),
		rangePath("max_over_time(up[5m:1m])", end.Unix()-600, end.Unix(), "15"),
	} {
		before := counting.n.Load()
		status, e := getJSON(t, api.base+path, "tenant-a")
		require.Equal(t, http.StatusOK, status, e.Error)
		require.Equal(t, before+1, counting.n.Load(), path)
	}
	require.Empty(t, api.q.parser.pending, "every handed-over expression is taken")
}

func TestCountSteps(t *testing.T) {
	tests := map[string]struct {
		expr           string
		span, interval time.Duration
		want           stepCount
	}{
		"instant, no subquery":    {expr: "up", want: stepCount{total: 1}},
		"range, no subquery":      {expr: "rate(up[5m])", span: time.Hour, interval: time.Minute, want: stepCount{total: 61}},
		"instant subquery":        {expr: "max_over_time(up[1h:1m])", want: stepCount{subquery: 60, total: 1 + 61}},
		"default subquery step":   {expr: "max_over_time(up[1h:])", want: stepCount{subquery: 60, total: 1 + 61}},
		"range query widens it":   {expr: "max_over_time(up[1h:1m])", span: time.Hour, interval: time.Minute, want: stepCount{subquery: 60, total: 61 + 121}},
		"nested subqueries widen": {expr: "max_over_time(max_over_time(up[10m:10s])[1h:1m])", want: stepCount{subquery: 60, total: 1 + 61 + (70*6 + 1)}},
		"@ evaluates its range only": {
			expr: "max_over_time(up[1h:1m] @ 100)", span: 24 * time.Hour, interval: time.Hour, want: stepCount{subquery: 60, total: 25 + 61},
		},
		"sub-millisecond steps count as 1ms": {expr: "count_over_time(vector(1)[1s:0.0001])", want: stepCount{subquery: 1000, total: 1 + 1001}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(tc.expr)
			require.NoError(t, err)
			require.Equal(t, tc.want, countSteps(expr, tc.span, tc.interval, time.Minute))
		})
	}
}

// TestClientGoneStopsTheQuery: a query whose client goes away stops: the
// engine's running-query gauge drops back and the ingester read it waited
// on sees the cancellation.
func TestClientGoneStopsTheQuery(t *testing.T) {
	c := newCluster(t, 1)
	slow := &blockingClients{cluster: c, started: make(chan struct{}, 1), canceled: make(chan struct{}, 1)}
	cfg := defaultConfig()
	reg := prometheus.NewPedanticRegistry()
	q, err := New(cfg, Deps{Registerer: reg, Instances: c, Clients: slow, Limits: limits.NewOverrides(defaultLimits())})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	base := newTestServer(t, tenant.TrustHeader(q.Handler())) + cfg.HTTPPrefix
	running := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		n := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "prometheus_engine_queries" {
				for _, m := range mf.GetMetric() {
					n += m.GetGauge().GetValue()
				}
			}
		}
		return n
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+instantPath("sum(up)"), nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, "tenant-a")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-slow.started
	require.Equal(t, 1.0, running())
	cancel() // The client goes away.
	require.ErrorIs(t, <-done, context.Canceled)
	select {
	case <-slow.canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the ingester read was not canceled")
	}
	require.Eventually(t, func() bool { return running() == 0 }, 10*time.Second, 10*time.Millisecond)
}

func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// blockingClients are the cluster's ingester clients whose QueryStream, a
// slow ingester's, waits for its context to end. It signals started when
// one begins and canceled when one saw its context canceled.
type blockingClients struct {
	*cluster
	started, canceled chan struct{}
}

func (b *blockingClients) Get(addr string) (ingesterpb.IngesterClient, error) {
	c, err := b.cluster.Get(addr)
	if err != nil {
		return nil, err
	}
	return &blockingClient{IngesterClient: c, b: b}, nil
}

type blockingClient struct {
	ingesterpb.IngesterClient
	b *blockingClients
}

func (c *blockingClient) QueryStream(ctx context.Context, _ *ingesterpb.QueryRequest, _ ...grpc.CallOption) (ingesterpb.Ingester_QueryStreamClient, error) {
	c.b.started <- struct{}{}
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.Canceled) {
		c.b.canceled <- struct{}{}
	}
	return nil, ctx.Err()
}

// TestQueryLimitsPerTenant: a tenant's overrides apply to its queries only.
func TestQueryLimitsPerTenant(t *testing.T) {
	c := newCluster(t, 1)
	cfg := defaultConfig()
	overrides := limits.NewOverrides(defaultLimits())
	tight := defaultLimits()
	tight.MaxSubquerySteps, tight.MaxQueryExpressionDepth = 100, 5
	overrides.Set(map[tenant.ID]*limits.Limits{"tenant-b": &tight})
	q, err := New(cfg, Deps{Registerer: prometheus.NewPedanticRegistry(), Instances: c, Clients: c, Limits: overrides})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	base := newTestServer(t, tenant.TrustHeader(q.Handler())) + cfg.HTTPPrefix
	for _, tc := range []struct {
		query, tenant string
		wantStatus    int
		wantError     string
	}{
		{query: "count_over_time(vector(1)[1h:1s])", tenant: "tenant-a", wantStatus: http.StatusOK},
		{query: "count_over_time(vector(1)[1h:1s])", tenant: "tenant-b", wantStatus: http.StatusBadRequest, wantError: `number 3600, over the limit -querier.max-subquery-steps=100 of tenant "tenant-b"`},
		{query: "1+1+1+1+1+1", tenant: "tenant-a", wantStatus: http.StatusOK},
		{query: "1+1+1+1+1+1", tenant: "tenant-b", wantStatus: http.StatusBadRequest, wantError: `nesting depth is at least 6, over the limit -querier.max-query-expression-depth=5 of tenant "tenant-b"`},
	} {
		status, e := getJSON(t, base+instantPath(tc.query), tc.tenant)
		require.Equal(t, tc.wantStatus, status, e.Error)
		require.Contains(t, e.Error, tc.wantError)
	}
}
