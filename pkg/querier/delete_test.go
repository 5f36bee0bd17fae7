package querier

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// recordedBumps records the cache-generation bumps of deletions.
type recordedBumps struct {
	mu      sync.Mutex
	tenants []tenant.ID
	err     error
}

func (b *recordedBumps) bump(_ context.Context, id tenant.ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tenants = append(b.tenants, id)
	return b.err
}

func (b *recordedBumps) got() []tenant.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]tenant.ID(nil), b.tenants...)
}

// startDeleteAPI serves a querier over c and st with delete_series, as
// pkg/app routes it, and returns the base URL with the /prometheus prefix.
func startDeleteAPI(t *testing.T, c *cluster, st Store, bump BumpCacheGeneration) string {
	t.Helper()
	cfg := defaultConfig()
	q, err := New(cfg, Deps{Registerer: prometheus.NewPedanticRegistry(), Instances: c, Clients: c, Store: st, Limits: limits.NewOverrides(defaultLimits())})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	mux := http.NewServeMux()
	mux.Handle(cfg.HTTPPrefix+"/api/v1/admin/tsdb/delete_series", tenant.TrustHeader(q.DeleteSeriesHandler(bump)))
	mux.Handle("/", tenant.TrustHeader(q.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + cfg.HTTPPrefix
}

// TestDeleteSeriesMatchesPrometheus deletes, through Prometheus's own API
// client, ranges that cross the store-only, overlapping and ingester-only
// parts of the data (RF=3 ingesters for the last 14h, the store from 30h
// to 10h ago), and compares range queries and series with Prometheus's
// TSDB after the same deletions: right after the deletion (tombstones in
// the store), and after retention applied the tombstones.
func TestDeleteSeriesMatchesPrometheus(t *testing.T) {
	for backend, newStore := range storeBackends {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().Truncate(time.Minute)
			n := now.UnixMilli()
			series := append(counters("http_requests_total", 6, n-30*hourMs, n, 60_000),
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
			// Another tenant's identical data must survive.
			writeStore(t, st, "other", series, n-30*hourMs, n-10*hourMs)
			pushIngesters(t, c, "other", series, n-14*hourMs, n)

			bumps := &recordedBumps{}
			base := startDeleteAPI(t, c, st, bumps.bump)
			client := apiClient(t, base, "t")
			deletions := []struct {
				matches    []string
				start, end time.Time
			}{
				{[]string{`http_requests_total{job="job1"}`}, now.Add(-20 * time.Hour), now.Add(-11*time.Hour - 30*time.Second)},
				{[]string{`{__name__=~"process_.*", instance="i7"}`, `http_requests_total{instance="i2"}`}, now.Add(-29 * time.Hour), now.Add(-2 * time.Hour)},
				{[]string{`process_cpu_seconds_total{instance="i8"}`}, time.Time{}, time.Time{}}, // All time.
			}
			p := parser.NewParser(parser.Options{})
			for _, d := range deletions {
				if d.start.IsZero() {
					form := url.Values{"match[]": d.matches}
					req, err := http.NewRequest(http.MethodPut, base+"/api/v1/admin/tsdb/delete_series", strings.NewReader(form.Encode()))
					require.NoError(t, err)
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set(tenant.Header, "t")
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					require.NoError(t, resp.Body.Close())
					require.Equal(t, http.StatusNoContent, resp.StatusCode)
				} else {
					require.NoError(t, client.DeleteSeries(ctx, d.matches, d.start, d.end))
				}
				// Prometheus's handler: one db.Delete per match[].
				mint, maxt := deleteMinTime, deleteMaxTime
				if !d.start.IsZero() {
					mint, maxt = d.start.UnixMilli(), d.end.UnixMilli()
				}
				for _, s := range d.matches {
					ms, err := p.ParseMetricSelector(s)
					require.NoError(t, err)
					require.NoError(t, ref.Delete(ctx, mint, maxt, ms...))
				}
			}
			require.Equal(t, []tenant.ID{"t", "t", "t"}, bumps.got())

			hearth, _ := testQueryable(c, st, nil, now)
			other, _ := testQueryable(c, st, nil, now)
			engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery*100)
			compare := func(t *testing.T) {
				for _, q := range []string{
					`http_requests_total`,
					`count_over_time(http_requests_total[1h])`,
					`rate(http_requests_total[5m])`,
					`{__name__=~"process_.*"}`,
				} {
					want := rangeQuery(t, engine, ref, ctx, q, now.Add(-29*time.Hour), now, 5*time.Minute)
					got := rangeQuery(t, engine, hearth, ctx, q, now.Add(-29*time.Hour), now, 5*time.Minute)
					requireSameMatrix(t, want, got)
					// The other tenant still has everything.
					all := rangeQuery(t, engine, other, tenant.WithID(context.Background(), "other"), q, now.Add(-29*time.Hour), now, 5*time.Minute)
					require.GreaterOrEqual(t, len(all), len(got))
				}
				// Series: a series with nothing left is gone, as in Prometheus.
				for _, r := range [][2]time.Duration{{29 * time.Hour, 0}, {20 * time.Hour, 11 * time.Hour}, {5 * time.Hour, 3 * time.Hour}} {
					start, end := now.Add(-r[0]), now.Add(-r[1])
					want := seriesOf(t, ref, ctx, start, end)
					got := seriesOf(t, hearth, ctx, start, end)
					require.Equal(t, want, got, "series in [%s ago, %s ago]", r[0], r[1])
				}
			}
			t.Run("tombstones", compare)
			n2, err := st.ApplyTombstones(context.Background(), "t", time.Now().Add(time.Hour).UnixMilli())
			require.NoError(t, err)
			require.Equal(t, 4, n2, "one tombstone per match[]")
			t.Run("tombstones applied", compare)
		})
	}
}

// seriesOf lists the series with samples in [start, end], as the series
// API selects them.
func seriesOf(t *testing.T, q interface {
	Querier(int64, int64) (storage.Querier, error)
}, ctx context.Context, start, end time.Time) []string {
	t.Helper()
	qr, err := q.Querier(start.UnixMilli(), end.UnixMilli())
	require.NoError(t, err)
	defer qr.Close()
	ss := qr.Select(ctx, true, &storage.SelectHints{Start: start.UnixMilli(), End: end.UnixMilli(), Func: "series"}, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var out []string
	for ss.Next() {
		out = append(out, ss.At().Labels().String())
	}
	require.NoError(t, ss.Err())
	return out
}

func TestDeleteSeriesBadRequests(t *testing.T) {
	c := newCluster(t, 1)
	bumps := &recordedBumps{}
	base := startDeleteAPI(t, c, nil, bumps.bump)
	for desc, tc := range map[string]struct {
		method  string
		form    url.Values
		status  int
		wantErr string
	}{
		"no match[]":       {form: url.Values{}, status: 400, wantErr: "no match[] parameter provided"},
		"invalid match[]":  {form: url.Values{"match[]": {`up{`}}, status: 400, wantErr: `invalid parameter match[] "up{"`},
		"empty selector":   {form: url.Values{"match[]": {`{}`}}, status: 400, wantErr: `invalid parameter match[] "{}": a selector needs a matcher`},
		"shard matcher":    {form: url.Values{"match[]": {`up{__query_shard__="1_of_2"}`}}, status: 400, wantErr: "__query_shard__ selects query shards"},
		"bad start":        {form: url.Values{"match[]": {"up"}, "start": {"yesterday"}}, status: 400, wantErr: `invalid parameter start: cannot parse "yesterday"`},
		"bad end":          {form: url.Values{"match[]": {"up"}, "end": {"NaN"}}, status: 400, wantErr: `invalid parameter end: cannot parse "NaN"`},
		"start after end":  {form: url.Values{"match[]": {"up"}, "start": {"20"}, "end": {"10"}}, status: 400, wantErr: "start 20 is after end 10"},
		"too many match[]": {form: url.Values{"match[]": make([]string, 101)}, status: 400, wantErr: "101 match[] parameters, at most 100"},
		"GET":              {method: http.MethodGet, form: url.Values{"match[]": {"up"}}, status: 405, wantErr: "POST or PUT"},
	} {
		t.Run(desc, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, base+"/api/v1/admin/tsdb/delete_series", strings.NewReader(tc.form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(tenant.Header, "t")
			if method == http.MethodGet {
				req.URL.RawQuery = tc.form.Encode()
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var e apiError
			require.NoError(t, jsonDecode(resp, &e))
			require.Equal(t, tc.status, resp.StatusCode, e.Error)
			require.Contains(t, e.Error, tc.wantErr)
		})
	}
	require.Empty(t, bumps.got(), "no deletion, no bump")
}

// TestDeleteSeriesNeedsEveryIngester refuses to acknowledge a deletion
// that an ingester missed: its replica would serve the data again.
func TestDeleteSeriesNeedsEveryIngester(t *testing.T) {
	c := newCluster(t, 3)
	bumps := &recordedBumps{}
	base := startDeleteAPI(t, c, nil, bumps.bump)
	c.stop(2)
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/admin/tsdb/delete_series?match[]=up", nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, "t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e apiError
	require.NoError(t, jsonDecode(resp, &e))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, e.Error, "all must answer")
	require.Empty(t, bumps.got())
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
