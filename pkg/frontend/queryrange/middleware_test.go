package queryrange

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

var rangeQueries = []struct {
	query   string
	byValue bool
	sharded bool
}{
	{query: "sum(rate(requests_total[5m]))", sharded: true},
	{query: "sum by (job) (rate(requests_total[5m]))", sharded: true},
	{query: "sum without (instance) (increase(requests_total[10m]))", sharded: true},
	{query: "count(mem)", sharded: true},
	{query: "count by (job) (mem > 5)", sharded: true},
	{query: "max by (job) (mem)", sharded: true},
	{query: "min(max_over_time(mem[10m]))", sharded: true},
	{query: "group by (code) (requests_total)", sharded: true},
	{query: "avg by (job) (mem)", sharded: true},
	{query: "avg(rate(requests_total[5m]))", sharded: true},
	{query: "topk(3, mem)", byValue: true, sharded: true},
	{query: "bottomk by (job) (2, rate(requests_total[5m]))", byValue: true, sharded: true},
	{query: "histogram_quantile(0.9, sum by (le) (rate(latency_bucket[5m])))", sharded: true},
	{query: "sum(rate(requests_total[5m])) / sum(rate(requests_total[5m] offset 1h))", sharded: true},
	{query: "sum(mem @ start()) + sum(mem @ end())", sharded: true},
	{query: "sum(native)"},
	{query: "rate(requests_total[5m])"},
	{query: "max_over_time(sum(mem)[30m:1m])"},
	{query: "count_values(\"v\", mem)"},
	{query: "mem offset -30m"},
	{query: "vector(1)"},
	{query: "time()"},
}

// TestRangeQueriesMatchTheEngine runs range queries through splitting, the
// results cache and sharding, cold and warm, for several tenants, and
// compares each answer with the plain engine's.
func TestRangeQueriesMatchTheEngine(t *testing.T) {
	e := newTestEnv(t, testEnvOpts{})
	ranges := []struct {
		name             string
		start, end, step time.Duration
	}{
		{"aligned 1m over 10h", 0, 10 * time.Hour, time.Minute},
		{"unaligned 7m", 30 * time.Second, 9*time.Hour + 30*time.Second, 7 * time.Minute},
		{"inside one hour", 2*time.Hour + 5*time.Minute, 2*time.Hour + 40*time.Minute, 15 * time.Second},
		{"one point", 3 * time.Hour, 3 * time.Hour, time.Minute},
	}
	for _, q := range rangeQueries {
		for _, rg := range ranges {
			t.Run(q.query+"/"+rg.name, func(t *testing.T) {
				ids := []tenant.ID{"a"}
				if rg.name == ranges[0].name {
					ids = append(ids, "b", "a|b")
				}
				for _, id := range ids {
					form := rangeForm(q.query, rg.start, rg.end, rg.step)
					wantStatus, want := e.direct(id, "/prometheus/api/v1/query_range", form)
					for range 2 { // cold, then from the cache
						status, got := e.do(id, "/prometheus/api/v1/query_range", form, nil)
						require.Equal(t, wantStatus, status, "%s", got)
						if status == http.StatusOK {
							requireSameResult(t, want, got, q.byValue)
						}
					}
				}
			})
		}
	}
	sharded, err := testutil.GatherAndCount(e.reg, "hearth_query_frontend_sharded_queries_total")
	require.NoError(t, err)
	require.Equal(t, 3, sharded, "one series per tenant")
	require.Positive(t, testutil.ToFloat64(e.mw.metrics.cacheHits.WithLabelValues("a")))
	require.Positive(t, testutil.ToFloat64(e.mw.metrics.shardFallbacks.WithLabelValues("a", "native_histograms")))
}

func TestInstantQueriesMatchTheEngine(t *testing.T) {
	e := newTestEnv(t, testEnvOpts{})
	for _, q := range rangeQueries {
		for _, at := range []time.Duration{0, 90 * time.Minute, 4*time.Hour + 17*time.Second, 10 * time.Hour} {
			form := url.Values{"query": {q.query}, "time": {formatMillis(at.Milliseconds())}}
			wantStatus, want := e.direct("a", "/api/v1/query", form)
			status, got := e.do("a", "/api/v1/query", form, nil)
			require.Equal(t, wantStatus, status, "%s: %s", q.query, got)
			if status == http.StatusOK {
				requireSameResult(t, want, got, q.byValue)
			}
		}
	}
	require.Positive(t, testutil.ToFloat64(e.mw.metrics.shardedQueries.WithLabelValues("a")))
	require.Zero(t, testutil.ToFloat64(e.mw.metrics.splitQueries.WithLabelValues("a")), "instant queries are not split")
}

// TestCacheServesOnlyMissingRanges checks that a warm cache sends only the
// new part of a moved range to the querier, and nothing newer than the
// freshness limit is cached.
func TestCacheServesOnlyMissingRanges(t *testing.T) {
	e := newTestEnv(t, testEnvOpts{
		cfg:    func(c *Config) { c.SplitQueriesByInterval = 0; c.QuerySharding = false },
		limits: func(l *limits.Limits) { l.MaxCacheFreshness = 0 },
	})
	e.queries = make(chan string, 100)
	q := "sum(rate(requests_total[5m]))"
	run := func(start, end time.Duration) int64 {
		before := e.calls.Load()
		status, body := e.do("a", "/api/v1/query_range", rangeForm(q, start, end, time.Minute), nil)
		require.Equal(t, http.StatusOK, status, "%s", body)
		_, want := e.direct("a", "/api/v1/query_range", rangeForm(q, start, end, time.Minute))
		requireSameResult(t, want, body, false)
		return e.calls.Load() - before
	}
	require.EqualValues(t, 1, run(time.Hour, 3*time.Hour), "cold")
	require.EqualValues(t, 0, run(time.Hour, 3*time.Hour), "warm")
	require.EqualValues(t, 0, run(90*time.Minute, 2*time.Hour), "inside")
	require.EqualValues(t, 1, run(2*time.Hour, 4*time.Hour), "only the new end")
	require.EqualValues(t, 2, run(0, 5*time.Hour), "both ends")
	require.EqualValues(t, 0, run(0, 5*time.Hour), "all cached now")

	// Nothing newer than now - freshness is cached.
	e.limits.Set(map[tenant.ID]*limits.Limits{"a": func() *limits.Limits {
		l := e.limits.Defaults()
		l.MaxCacheFreshness = 0
		l.OutOfOrderTimeWindow = 0
		return &l
	}()})
	e.now = time.Unix(0, 0).Add(6 * time.Hour)
	require.EqualValues(t, 1, run(5*time.Hour, 7*time.Hour))
	require.EqualValues(t, 1, run(5*time.Hour, 7*time.Hour), "past now is never cached")
	require.EqualValues(t, 0, run(5*time.Hour, 6*time.Hour), "up to now was cached")
}

func TestUncacheable(t *testing.T) {
	for name, tc := range map[string]struct {
		query  string
		header http.Header
		limits func(*limits.Limits)
		start  time.Duration
		cached bool
	}{
		"plain":                          {query: "sum(mem)", cached: true},
		"no-store":                       {query: "sum(mem)", header: http.Header{"Cache-Control": {"no-cache, no-store"}}},
		"negative offset":                {query: "sum(mem offset -1m)"},
		"@ in the past":                  {query: "sum(mem @ 3600)", cached: true},
		"@ after the end":                {query: "sum(mem @ 36000)"},
		"@ end() is rewritten, cached":   {query: "sum(mem @ end())", cached: true},
		"@ too fresh":                    {query: "sum(mem @ 39000)", limits: func(l *limits.Limits) { l.MaxCacheFreshness = 0 }},
		"unaligned":                      {query: "sum(mem)", start: 30 * time.Second},
		"unaligned, tenant opted in":     {query: "sum(mem)", start: 30 * time.Second, limits: func(l *limits.Limits) { l.CacheUnalignedRequests = true }, cached: true},
		"inside the out-of-order window": {query: "sum(mem)", limits: func(l *limits.Limits) { l.OutOfOrderTimeWindow = 24 * 3600 * 1e9 }},
		"range() in a duration":          {query: "sum(rate(requests_total[range()]))"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, testEnvOpts{limits: tc.limits, cfg: func(c *Config) { c.SplitQueriesByInterval = 0; c.QuerySharding = false }})
			form := rangeForm(tc.query, tc.start, 2*time.Hour+tc.start, time.Minute)
			for range 2 {
				status, body := e.do("a", "/api/v1/query_range", form, tc.header)
				if status != http.StatusOK {
					require.Contains(t, string(body), "range", "only range() may fail here (a parser without duration expressions)")
					return
				}
			}
			if tc.cached {
				require.EqualValues(t, 1, e.calls.Load())
			} else {
				require.EqualValues(t, 2, e.calls.Load())
			}
		})
	}
}

// TestAlignment moves start and end to the step only for tenants that opt
// in.
func TestAlignment(t *testing.T) {
	for name, align := range map[string]bool{"off": false, "on": true} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, testEnvOpts{limits: func(l *limits.Limits) { l.AlignQueriesWithStep = align }})
			e.queries = make(chan string, 100)
			form := rangeForm("sum(mem)", 90*time.Second, time.Hour+90*time.Second, time.Minute)
			_, got := e.do("a", "/api/v1/query_range", form, nil)
			r, err := decodeResponseBody(got)
			require.NoError(t, err)
			require.NotEmpty(t, r.Matrix)
			first := int64(r.Matrix[0].Values[0].Timestamp)
			if align {
				require.Equal(t, time.Minute.Milliseconds(), first)
			} else {
				require.Equal(t, (90 * time.Second).Milliseconds(), first)
			}
		})
	}
}

// TestShardQueries checks the sub-queries a sharded query sends.
func TestShardQueries(t *testing.T) {
	e := newTestEnv(t, testEnvOpts{
		cfg:    func(c *Config) { c.SplitQueriesByInterval = 0; c.CacheResults = false },
		limits: func(l *limits.Limits) { l.QueryShardingTotalShards = 3 },
	})
	e.queries = make(chan string, 100)
	status, body := e.do("a", "/api/v1/query", url.Values{"query": {"sum by (job) (rate(requests_total[5m]))"}, "time": {"3600"}}, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	close(e.queries)
	var got []string
	for q := range e.queries {
		got = append(got, q)
	}
	require.ElementsMatch(t, []string{
		`sum by (job) (rate(requests_total{__query_shard__="1_of_3"}[5m]))`,
		`sum by (job) (rate(requests_total{__query_shard__="2_of_3"}[5m]))`,
		`sum by (job) (rate(requests_total{__query_shard__="3_of_3"}[5m]))`,
	}, got)
}

func TestPassThrough(t *testing.T) {
	e := newTestEnv(t, testEnvOpts{})
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/api/v1/series", url.Values{"match[]": {"mem"}}},
		{"/api/v1/query_range", url.Values{"query": {"sum(mem)"}, "start": {"0"}, "end": {"7200"}, "step": {"60"}, "lookback_delta": {"1m"}}},
		{"/api/v1/query_range", url.Values{"query": {"sum(mem"}, "start": {"0"}, "end": {"7200"}, "step": {"60"}}},
		{"/api/v1/query_range", url.Values{"query": {"sum(mem)"}, "start": {"7200"}, "end": {"0"}, "step": {"60"}}},
	} {
		before := e.calls.Load()
		e.do("a", tc.path, tc.form, nil)
		require.EqualValues(t, 1, e.calls.Load()-before, "%s %v goes to the querier unchanged", tc.path, tc.form)
	}
}

func TestParseRequest(t *testing.T) {
	now := time.Unix(1000, 0)
	for name, tc := range map[string]struct {
		target string
		body   string
		want   *Request
	}{
		"range GET":            {target: "/prometheus/api/v1/query_range?query=up&start=10&end=20.5&step=1.5", want: &Request{Path: "/prometheus/api/v1/query_range", Query: "up", Start: 10000, End: 20500, Step: 1500}},
		"range POST RFC3339":   {target: "/api/v1/query_range", body: "query=up&start=1970-01-01T00:00:10Z&end=1970-01-01T00:01:00.5Z&step=1m", want: &Request{Path: "/api/v1/query_range", Query: "up", Start: 10000, End: 60500, Step: 60000}},
		"instant default time": {target: "/api/v1/query?query=up", want: &Request{Path: "/api/v1/query", Query: "up", Start: 1000000, End: 1000000}},
		"instant with timeout": {target: "/api/v1/query?query=up&time=5&timeout=10s", want: &Request{Path: "/api/v1/query", Query: "up", Start: 5000, End: 5000, Timeout: "10s"}},
		"unknown parameter":    {target: "/api/v1/query?query=up&stats=all"},
		"sub-millisecond step": {target: "/api/v1/query_range?query=up&start=1&end=2&step=0.0001"},
		"too many points":      {target: "/api/v1/query_range?query=up&start=0&end=100000&step=1"},
		"labels":               {target: "/api/v1/labels"},
	} {
		t.Run(name, func(t *testing.T) {
			method := http.MethodGet
			if tc.body != "" {
				method = http.MethodPost
			}
			hr, err := http.NewRequest(method, "http://x"+tc.target, strings.NewReader(tc.body))
			require.NoError(t, err)
			if tc.body != "" {
				hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			got, ok, err := parseRequest(hr, now)
			require.NoError(t, err)
			if tc.want == nil {
				require.False(t, ok)
				return
			}
			require.True(t, ok)
			got.Header, got.url, got.host = nil, nil, ""
			require.Equal(t, tc.want, got)
		})
	}
}
