package frontend

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixedLimits are the same limits for every tenant.
type fixedLimits struct{ maxQueriers, maxOutstanding int }

func (l fixedLimits) MaxQueriersPerTenant(tenant.ID) int    { return l.maxQueriers }
func (l fixedLimits) MaxOutstandingPerTenant(tenant.ID) int { return l.maxOutstanding }

// defaultLimits are the flags' defaults.
var defaultLimits = fixedLimits{maxOutstanding: 100}

// newFrontend builds a frontend with the default limits and n in-process
// workers on handler, stopped at the test's end.
func newFrontend(t testing.TB, cfg Config, n int, handler http.Handler) *Frontend {
	t.Helper()
	return newFrontendWith(t, cfg, defaultLimits, nil, n, handler)
}

// newFrontendWith is newFrontend with limits and a middleware (optional).
func newFrontendWith(t testing.TB, cfg Config, lim Limits, mw Middleware, n int, handler http.Handler) *Frontend {
	t.Helper()
	fe, err := New(Deps{Config: cfg, HTTPPrefix: "/prometheus", Limits: lim, Middleware: mw, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewPedanticRegistry()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if n > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); fe.RunInProcess(ctx, "q1", n, handler) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return fe
}

func defaultConfig() Config {
	return Config{MaxRetries: 5, ShutdownGracePeriod: time.Second}
}

// serve runs one request for tenant id through fe's handler.
func serve(fe *Frontend, id tenant.ID, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	fe.Handler().ServeHTTP(w, r.WithContext(tenant.WithID(r.Context(), id)))
	return w
}

func TestRequestReachesTheQuerierWithItsTenant(t *testing.T) {
	fe := newFrontend(t, defaultConfig(), 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.FromContext(r.Context())
		require.NoError(t, err)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"tenant":"`+string(id)+`","path":"`+r.URL.Path+`","query":"`+r.FormValue("query")+`","auth":"`+r.Header.Get("Authorization")+`"}`)
	}))
	r := httptest.NewRequest(http.MethodPost, "/prometheus/api/v1/query", strings.NewReader("query=up"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Basic c2VjcmV0")
	w := serve(fe, "team-a", r)
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, `{"tenant":"team-a","path":"/prometheus/api/v1/query","query":"up","auth":""}`, w.Body.String())
}

func TestRetries(t *testing.T) {
	for name, tc := range map[string]struct {
		codes     []int // answered in turn; the last one repeats
		wantCode  int
		wantCalls int
	}{
		"a 5xx is retried until it succeeds":           {codes: []int{503, 500, 200}, wantCode: 200, wantCalls: 3},
		"a 5xx is tried -frontend.max-retries times":   {codes: []int{500}, wantCode: 500, wantCalls: 5},
		"a 4xx is never retried":                       {codes: []int{422, 200}, wantCode: 422, wantCalls: 1},
		"a 2xx is answered at once":                    {codes: []int{200}, wantCode: 200, wantCalls: 1},
		"a query past -querier.timeout is not retried": {codes: []int{599}, wantCode: 503, wantCalls: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int64
			fe := newFrontend(t, defaultConfig(), 1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				i := int(calls.Add(1)) - 1
				code := tc.codes[min(i, len(tc.codes)-1)]
				if code == 599 { // The querier's answer to a query past its timeout.
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`)
					return
				}
				w.WriteHeader(code)
			}))
			w := serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil))
			require.Equal(t, tc.wantCode, w.Code)
			require.Equal(t, tc.wantCalls, int(calls.Load()))
			require.InDelta(t, float64(tc.wantCalls-1), testutil.ToFloat64(fe.retries.WithLabelValues("a")), 0)
		})
	}
}

// A querier lost mid-query: the request goes to another querier.
func TestLostQuerierIsRetriedElsewhere(t *testing.T) {
	fe := newFrontend(t, defaultConfig(), 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	lost := make(chan struct{})
	go func() {
		defer wg.Done()
		_ = fe.Serve(ctx, "dying", func(context.Context, *Request) (*Response, error) {
			close(lost)
			return nil, ErrQuerierLost
		})
	}()
	go func() {
		defer wg.Done()
		<-lost // Only once the first querier took the request.
		_ = fe.Serve(ctx, "healthy", InProcessExecutor(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok")
		})))
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	w := serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "ok", w.Body.String())
}

// When the client goes away, the querier's handler context is cancelled.
func TestClientGoneCancelsTheQuerier(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	fe := newFrontend(t, defaultConfig(), 1, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(cancelled)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil).WithContext(ctx))
	}()
	<-started
	cancel()
	<-cancelled
	<-done
}

func TestGzipAndServerTiming(t *testing.T) {
	big := strings.Repeat(`{"metric":"up"},`, 200)
	fe := newFrontend(t, defaultConfig(), 1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Empty(t, r.Header.Get("Accept-Encoding"), "the frontend compresses, not the querier")
		_, _ = io.WriteString(w, big)
	}))
	for name, tc := range map[string]struct {
		accept, stats string
		wantGzip      bool
		wantTiming    bool
	}{
		"gzip when accepted":           {accept: "gzip, deflate", wantGzip: true},
		"plain otherwise":              {accept: ""},
		"gzip;q=0 refuses gzip":        {accept: "gzip;q=0"},
		"Server-Timing when asked for": {stats: "true", wantTiming: true},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil)
			r.Header.Set("Accept-Encoding", tc.accept)
			r.Header.Set(StatsHeader, tc.stats)
			w := serve(fe, "a", r)
			require.Equal(t, http.StatusOK, w.Code)
			body := w.Body.Bytes()
			if tc.wantGzip {
				require.Equal(t, "gzip", w.Header().Get("Content-Encoding"))
				zr, err := gzip.NewReader(bytes.NewReader(body))
				require.NoError(t, err)
				body, err = io.ReadAll(zr)
				require.NoError(t, err)
			} else {
				require.Empty(t, w.Header().Get("Content-Encoding"))
			}
			require.Equal(t, big, string(body))
			timing := w.Header().Get("Server-Timing")
			if tc.wantTiming {
				require.Contains(t, timing, "queue;dur=")
				require.Contains(t, timing, "querier;dur=")
				require.Contains(t, timing, `subqueries;desc="1"`)
			} else {
				require.Empty(t, timing)
			}
		})
	}
}

func TestMiddlewareWrapsTheQueue(t *testing.T) {
	fe, err := New(Deps{
		Config: defaultConfig(), Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
		Middleware: func(next http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				StatsFromContext(r.Context()).AddShards(4)
				StatsFromContext(r.Context()).AddCacheExtents(1, 3)
				return next.RoundTrip(r)
			})
		},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fe.RunInProcess(ctx, "q", 1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	}()
	defer func() { cancel(); <-done }()
	r := httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query_range?query=up", nil)
	r.Header.Set(StatsHeader, "true")
	w := serve(fe, "a", r)
	require.Equal(t, "ok", w.Body.String())
	require.Contains(t, w.Header().Get("Server-Timing"), `shards;desc="4"`)
	require.Contains(t, w.Header().Get("Server-Timing"), `cache_hit_ratio;desc="0.250"`)
}

// On stop the frontend refuses new queries, lets the queriers drain what
// is queued, and fails with 503 what is left at the grace period's end.
func TestDrainOnStop(t *testing.T) {
	release := make(chan struct{})
	fe := newFrontend(t, defaultConfig(), 1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		_, _ = io.WriteString(w, "ok")
	}))
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			codes <- serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil)).Code
		}()
	}
	require.Eventually(t, func() bool { return fe.pending.Load() == 2 }, 5*time.Second, time.Millisecond)
	fe.stopping.Store(true) // What drain does first, done here so the check below cannot race it.
	drained := make(chan struct{})
	go func() { fe.drain(time.Minute); close(drained) }()
	require.Equal(t, http.StatusServiceUnavailable, serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil)).Code, "a stopping frontend refuses new queries")
	close(release)
	require.Equal(t, http.StatusOK, <-codes)
	require.Equal(t, http.StatusOK, <-codes)
	<-drained

	// With no querier, the grace period ends with a 503.
	fe2 := newFrontend(t, defaultConfig(), 0, nil)
	go func() {
		codes <- serve(fe2, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil)).Code
	}()
	require.Eventually(t, func() bool { return fe2.queue.Len() == 1 }, 5*time.Second, time.Millisecond)
	fe2.drain(10 * time.Millisecond)
	require.Equal(t, http.StatusServiceUnavailable, <-codes)
}

func TestRulerProxy(t *testing.T) {
	ruler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	}))
	defer ruler.Close()
	cfg := defaultConfig()
	cfg.RulerURL = ruler.URL
	fe := newFrontend(t, cfg, 0, nil)
	r := httptest.NewRequest(http.MethodPost, "/prometheus/config/v1/rules/ns", strings.NewReader("groups: []"))
	r.Header.Set("Authorization", "Bearer k")
	w := httptest.NewRecorder()
	fe.RulerProxy().ServeHTTP(w, r)
	require.Equal(t, "POST /prometheus/config/v1/rules/ns Bearer k", w.Body.String())
	require.Nil(t, newFrontend(t, defaultConfig(), 0, nil).RulerProxy())
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate  func(*Config)
		wantErr string
	}{
		"defaults":               {mutate: func(*Config) {}},
		"no try":                 {mutate: func(c *Config) { c.MaxRetries = 0 }, wantErr: "max_retries"},
		"ruler URL without host": {mutate: func(c *Config) { c.RulerURL = "ruler:8080" }, wantErr: "ruler_url"},
	} {
		t.Run(name, func(t *testing.T) {
			c := defaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestSlowQueryLog(t *testing.T) {
	var logs bytes.Buffer
	cfg := defaultConfig()
	cfg.LogQueriesLongerThan = time.Nanosecond
	fe, err := New(Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fe.RunInProcess(ctx, "q", 1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	}()
	defer func() { cancel(); <-done }()
	r := httptest.NewRequest(http.MethodPost, "/prometheus/api/v1/query_range?start=100&end=200", strings.NewReader("query=sum(rate(x[5m]))&step=15"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusOK, serve(fe, "team-a", r).Code)
	line := logs.String()
	for _, want := range []string{`msg="Slow query"`, "tenant=team-a", "query=sum(rate(x[5m]))", "start=100", "end=200", "step=15", "queue_time=", "querier_time=", "code=200"} {
		require.Contains(t, line, want)
	}
}

func TestIdleTenantsMetricsAreDeleted(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	fe, err := New(Deps{Config: defaultConfig(), Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fe.RunInProcess(ctx, "q", 1, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	}()
	defer func() { cancel(); <-done }()
	serve(fe, "team-a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil))
	n, err := testutil.GatherAndCount(reg, "hearth_query_frontend_queries_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	fe.forgetIdle(0)
	n, err = testutil.GatherAndCount(reg, "hearth_query_frontend_queries_total", "hearth_query_frontend_queue_duration_seconds", "hearth_query_frontend_querier_seconds_total")
	require.NoError(t, err)
	require.Zero(t, n)
}
