package retention

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/flusher"
	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

var (
	_ LocalDeleter = (*ingester.Ingester)(nil)
	_ LocalDeleter = (*flusher.Flusher)(nil)
)

// startIngester starts a flusher writing to s and an ingester reporting to
// it, as in one ingester process.
func startIngester(t *testing.T, s *chunk.Store) (*ingester.Ingester, *flusher.Flusher) {
	t.Helper()
	ctx := context.Background()
	var fcfg flusher.Config
	fcfg.RegisterFlags(flag.NewFlagSet("f", flag.PanicOnError))
	fl, err := flusher.New(flusher.Deps{Config: fcfg, Store: s, Logger: discard(), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	var icfg ingester.Config
	icfg.RegisterFlags(flag.NewFlagSet("i", flag.PanicOnError))
	icfg.Dir = t.TempDir()
	ing, err := ingester.New(ingester.Deps{Config: icfg, Logger: discard(), Registerer: prometheus.NewRegistry(), Overrides: limits.NewOverrides(defaultLimits()), Flusher: fl})
	require.NoError(t, err)
	for _, svc := range []interface {
		StartAsync(context.Context) error
		AwaitRunning(context.Context) error
	}{fl.Service(), ing.Service()} {
		require.NoError(t, svc.StartAsync(ctx))
		require.NoError(t, svc.AwaitRunning(ctx))
	}
	t.Cleanup(func() {
		ing.Service().StopAsync()
		require.NoError(t, ing.Service().AwaitTerminated(ctx))
		fl.Service().StopAsync()
		require.NoError(t, fl.Service().AwaitTerminated(ctx))
	})
	return ing, fl
}

// push sends 5h of one series, from 2021, and 1h of recent samples (kept
// in the head).
func push(t *testing.T, ing *ingester.Ingester, id string) {
	t.Helper()
	ts := ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "m"}, {Name: "job", Value: id}}}
	for s := chunktest.Base; s <= chunktest.Base+5*3600000; s += 60000 {
		ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: s, Value: 1})
	}
	resp, err := ing.Push(tenant.WithID(context.Background(), tenant.ID(id)), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{ts}})
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
}

func selectAll(t *testing.T, s *chunk.Store, id string) []chunk.Series {
	t.Helper()
	m, err := labels.NewMatcher(labels.MatchEqual, "__name__", "m")
	require.NoError(t, err)
	got, err := s.Select(context.Background(), id, 0, 1<<50, m)
	require.NoError(t, err)
	return got
}

func ingesterSeries(t *testing.T, ing *ingester.Ingester, id string) int {
	t.Helper()
	resp, err := ing.Series(tenant.WithID(context.Background(), tenant.ID(id)), &ingesterpb.SeriesRequest{
		StartMs: 0, EndMs: 1 << 50,
		MatcherSets: []ingesterpb.MatcherSet{{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "__name__", Value: "m"}}}},
	})
	require.NoError(t, err)
	return len(resp.Series)
}

// TestDeleteTenant deletes a flushed tenant through the HTTP endpoint of an
// ingester process; another store client (a querier's) that had the
// tenant's rows cached finds nothing afterwards either.
func TestDeleteTenant(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	s, err := chunk.New(b, chunk.DefaultOptions(), discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	ing, fl := startIngester(t, s)
	for _, id := range []string{"gone", "kept"} {
		push(t, ing, id)
	}
	require.NoError(t, fl.FlushAll(ctx, ing))
	// Both tenants have a row in every other namespace too (API keys,
	// rules, Alertmanager state, ...).
	var others []string
	for _, id := range []string{"gone", "kept"} {
		rows := widecolumntest.TenantRows(id)
		require.NoError(t, b.Apply(ctx, rows))
		for _, r := range rows {
			// The deleted tenant's cache generation stays (it must only go up).
			if (id == "kept" || widecolumn.NamespaceOf(r.Key).KeptOnTenantDeletion()) && !widecolumn.Chunks.Contains(r.Key) {
				others = append(others, string(r.Key))
			}
		}
	}
	// More samples after the flush stay in the head only.
	push2 := ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "m"}, {Name: "job", Value: "head"}},
		Samples: []ingesterpb.Sample{{TimestampMs: chunktest.Base + 6*3600000, Value: 1}}}
	_, err = ing.Push(tenant.WithID(ctx, "gone"), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{push2}})
	require.NoError(t, err)

	// A querier's store client reads (and caches: the buckets are old)
	// the tenant before the deletion.
	querierStore, err := chunk.New(b, chunk.DefaultOptions(), discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.Len(t, selectAll(t, querierStore, "gone"), 1)
	require.Len(t, selectAll(t, querierStore, "gone"), 1)

	reg := prometheus.NewPedanticRegistry()
	mux := http.NewServeMux()
	d := NewDeleter(DeleterDeps{Logger: discard(), Registerer: reg, Table: b, Store: s, Local: []LocalDeleter{ing, fl}})
	mux.Handle("DELETE /api/v1/admin/tenants/{tenant}", d)
	mux.Handle("POST /admin/tenants/delete", d)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	code, _ := do(http.MethodDelete, "/api/v1/admin/tenants/gone")
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, selectAll(t, s, "gone"))
	require.Zero(t, ingesterSeries(t, ing, "gone"))
	require.Nil(t, ing.Blocks("gone"))
	tenants, err := s.Tenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"kept"}, tenants)
	var left []string
	for _, r := range chunktest.Dump(t, b) {
		if !widecolumn.Chunks.Contains(r.Key) {
			left = append(left, string(r.Key))
			continue
		}
		id, _ := chunktest.KeyTenantBucket(t, r.Key)
		require.Equal(t, "kept", id)
	}
	require.ElementsMatch(t, others, left, "in every namespace, only the kept tenant's rows (and the deleted tenant's cache generation) remain")
	require.Len(t, selectAll(t, s, "kept"), 1)
	require.Equal(t, 1, ingesterSeries(t, ing, "kept"))

	// The querier's client, with the tenant's rows cached, finds nothing
	// either: every Select reads the tenant's first bucket uncached.
	require.Empty(t, selectAll(t, querierStore, "gone"))
	require.Len(t, selectAll(t, querierStore, "kept"), 1)
	code, _ = do(http.MethodPost, "/admin/tenants/delete?tenant=gone")
	require.Equal(t, http.StatusNoContent, code) // Idempotent.
	require.InDelta(t, 2, chunktest.MetricValue(t, reg, "hearth_retention_deleted_tenants_total"), 0)

	for _, c := range []struct {
		method, path string
		code         int
	}{
		{http.MethodPost, "/admin/tenants/delete", http.StatusBadRequest},
		{http.MethodPost, "/admin/tenants/delete?tenant=..", http.StatusBadRequest},
		{http.MethodDelete, "/api/v1/admin/tenants/a%2Fb", http.StatusBadRequest},
	} {
		code, body := do(c.method, c.path)
		require.Equal(t, c.code, code, "%s %s: %s", c.method, c.path, body)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/tenants/delete?tenant=kept", nil))
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Len(t, selectAll(t, s, "kept"), 1)

	// A push after the deletion starts the tenant afresh.
	push(t, ing, "gone")
	require.Equal(t, 1, ingesterSeries(t, ing, "gone"))
}
