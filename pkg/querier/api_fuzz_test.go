package querier

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// FuzzQueryAPI sends the query API's parameters (expression, start, end,
// step, time, timeout) through the HTTP handler: no input panics, even one
// the engine recovers from, every answer is 2xx, 400, 422 or 503, and each
// is answered within a bound.
func FuzzQueryAPI(f *testing.F) {
	c := newCluster(f, 1)
	end := time.Unix(2_000_000_000, 0)
	pushTestData(f, c, "tenant-a", 2, 1, end)
	cfg := defaultConfig()
	cfg.Timeout = 5 * time.Second
	q, err := New(cfg, Deps{Registerer: prometheus.NewRegistry(), Instances: c, Clients: c, Limits: limits.NewOverrides(defaultLimits())})
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, q.Engine().Close()) })
	h := tenant.TrustHeader(q.Handler())

	for _, s := range []struct {
		rangeQuery                           bool
		query, start, end, step, ts, timeout string
	}{
		{false, "up", "", "", "", "2000000000", ""},
		{true, "sum by (job) (rate(up[5m]))", "1999999400", "2000000000", "15", "", "10s"},
		{false, "count_over_time(vector(1)[100y:1s])", "", "", "", "", ""},
		{false, "count_over_time(vector(1)[6h:1ms])", "", "", "", "", ""},
		{false, "count_over_time(vector(1)[1s:0.0001])", "", "", "", "", ""},
		{true, "vector(1)", "2000000000", "2000000001", "0.0001", "", ""},
		{true, "up", "NaN", "Inf", "-1e300", "", "0"},
		{false, "1" + strings.Repeat("+1", 2000), "", "", "", "-Inf", "-1s"},
		{false, strings.Repeat("(", 700) + "1", "", "", "", "2030-01-01T00:00:00Z", "1e100"},
		{true, "max_over_time(up[1h:1m] @ end())", "0", "2000000000", "86400", "", "1ms"},
		{false, `up{job=~"(a|b)*c+"} offset -1h @ 1e10`, "", "", "", "9e18", ""},
	} {
		f.Add(s.rangeQuery, s.query, s.start, s.end, s.step, s.ts, s.timeout)
	}
	f.Fuzz(func(t *testing.T, rangeQuery bool, query, start, end, step, ts, timeout string) {
		v := url.Values{"query": {query}, "timeout": {timeout}}
		path := "/prometheus/api/v1/query"
		if rangeQuery {
			path += "_range"
			v.Set("start", start)
			v.Set("end", end)
			v.Set("step", step)
		} else {
			v.Set("time", ts)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(tenant.Header, "tenant-a")
		rec := httptest.NewRecorder()
		began := time.Now()
		h.ServeHTTP(rec, req)
		took := time.Since(began)
		switch {
		case rec.Code >= 200 && rec.Code < 300, rec.Code == http.StatusBadRequest, rec.Code == http.StatusUnprocessableEntity, rec.Code == http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, v.Encode(), rec.Body.String())
		}
		require.NotContains(t, rec.Body.String(), "runtime error", "a recovered panic")
		require.Less(t, took, 15*time.Second, v.Encode())
	})
}
