package queryrange

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/frontend/queryrange/queryrangetest"
	"github.com/hearthmetrics/hearth/pkg/frontend/resultscache"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// testData is 50 counters, 20 gauges with gaps, a classic histogram and a
// native histogram over 10h at 1m.
func testData(scale int) string {
	var b strings.Builder
	b.WriteString("load 1m\n")
	for i := range 50 {
		fmt.Fprintf(&b, "  requests_total{job=\"j%d\", instance=\"i%d\", code=\"%d\"} 0+%dx600\n", i%3, i, 200+100*(i%4), (i+1)*scale)
	}
	for i := range 20 {
		fmt.Fprintf(&b, "  mem{job=\"j%d\", instance=\"i%d\"} %d+%dx20 _x%d %d+%dx180 _x50 %d-1x300\n", i%3, i, i*scale, i%5, 5+i%4, i*scale, i%5, 1000+i)
	}
	for _, le := range []string{"0.1", "0.5", "1", "+Inf"} {
		for j := range 3 {
			f, _ := strconv.ParseFloat(le, 64)
			inc := 1 + j
			if !math.IsInf(f, 1) {
				inc = int(f*10) + j
			}
			fmt.Fprintf(&b, "  latency_bucket{job=\"j%d\", le=\"%s\"} 0+%dx600\n", j, le, inc*scale)
		}
	}
	b.WriteString("  native{job=\"a\"} {{schema:0 sum:5 count:4 buckets:[1 2 1]}}+{{schema:0 sum:2 count:1 buckets:[1]}}x600\n")
	return b.String()
}

type testEnv struct {
	t        testing.TB
	storages map[tenant.ID]storage.Queryable
	engine   *promql.Engine
	mw       *Middlewares
	rt       http.RoundTripper
	calls    atomic.Int64
	queries  chan string
	now      time.Time
	reg      *prometheus.Registry
	limits   *limits.Overrides
}

// testEnvOpts adjust a test environment.
type testEnvOpts struct {
	cfg    func(*Config)
	limits func(*limits.Limits)
	cache  resultscache.Cache
	// storages replace the test data.
	storages map[tenant.ID]storage.Queryable
}

func newTestEnv(t testing.TB, o testEnvOpts) *testEnv {
	t.Helper()
	e := &testEnv{
		t:        t,
		storages: map[tenant.ID]storage.Queryable{},
		now:      time.Unix(0, 0).Add(11 * time.Hour),
		reg:      prometheus.NewPedanticRegistry(),
	}
	if o.storages != nil {
		e.storages = o.storages
	} else {
		for id, scale := range map[tenant.ID]int{"a": 1, "b": 2, "a|b": 3} {
			e.storages[id] = queryrangetest.Sharding(promqltest.LoadedStorage(t, testData(scale)))
		}
	}
	e.engine = promql.NewEngine(promql.EngineOpts{
		MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
		EnableAtModifier: true, EnableNegativeOffset: true,
	})
	t.Cleanup(func() { _ = e.engine.Close() })

	var cfg Config
	var lim limits.Limits
	fs := newFlagSet()
	cfg.RegisterFlags(fs)
	lim.RegisterFlags(fs)
	cfg.SplitQueriesByInterval = time.Hour
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	if o.limits != nil {
		o.limits(&lim)
	}
	e.limits = limits.NewOverrides(lim)
	mw, err := New(cfg, Deps{Limits: e.limits, Cache: o.cache, Registerer: e.reg, Now: func() time.Time { return e.now }})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, mw.Close()) })
	e.mw = mw
	e.rt = mw.Wrap(roundTripperFunc(e.querier))
	return e
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// querier is a minimal querier: the plain engine over the tenant's storage.
// Every other call it answers proto/resultpb's binary form when Accept asks
// for it, as a querier does, and JSON otherwise, as one that does not know
// the binary form does: every test then crosses both.
func (e *testEnv) querier(r *http.Request) (*http.Response, error) {
	binary := e.calls.Add(1)%2 == 0 && strings.Contains(r.Header.Get("Accept"), resultpb.ContentType)
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		return nil, err
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	if e.queries != nil {
		e.queries <- r.Form.Get("query")
	}
	body, status := e.evaluate(r.Context(), e.storages[id], r.URL.Path, r.Form, binary)
	h := http.Header{"Content-Type": {"application/json"}}
	if binary && status == http.StatusOK {
		h.Set("Content-Type", resultpb.ContentType)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(string(body)))}, nil
}

func (e *testEnv) evaluate(ctx context.Context, q storage.Queryable, path string, form url.Values, binary bool) ([]byte, int) {
	var (
		query promql.Query
		err   error
	)
	qs := form.Get("query")
	if strings.HasSuffix(path, "query_range") {
		start, _ := parseTimeMillis(form.Get("start"))
		end, _ := parseTimeMillis(form.Get("end"))
		step, _ := parseStepMillis(form.Get("step"))
		query, err = e.engine.NewRangeQuery(ctx, q, nil, qs, time.UnixMilli(start), time.UnixMilli(end), time.Duration(step)*time.Millisecond)
	} else {
		ts, _ := parseTimeMillis(form.Get("time"))
		query, err = e.engine.NewInstantQuery(ctx, q, nil, qs, time.UnixMilli(ts))
	}
	if err != nil {
		return apiError(http.StatusBadRequest, "bad_data", err.Error()).Body, http.StatusBadRequest
	}
	defer query.Close()
	res := query.Exec(ctx)
	if res.Err != nil {
		return apiError(http.StatusUnprocessableEntity, "execution", res.Err.Error()).Body, http.StatusUnprocessableEntity
	}
	if binary {
		warnings, infos := res.Warnings.AsStrings(qs, 0, 0)
		body, err := resultpb.Append(nil, res.Value, warnings, infos)
		if err != nil {
			return apiError(http.StatusInternalServerError, "internal", err.Error()).Body, http.StatusInternalServerError
		}
		return body, http.StatusOK
	}
	resp, err := fromPromQL(res.Value)
	if err != nil {
		return apiError(http.StatusInternalServerError, "internal", err.Error()).Body, http.StatusInternalServerError
	}
	resp.Warnings, resp.Infos = res.Warnings.AsStrings(qs, 0, 0)
	body, err := resp.encode()
	if err != nil {
		return apiError(http.StatusInternalServerError, "internal", err.Error()).Body, http.StatusInternalServerError
	}
	return body, http.StatusOK
}

// do sends a request through the middlewares.
func (e *testEnv) do(id tenant.ID, path string, form url.Values, header http.Header) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(tenant.WithID(context.Background(), id), http.MethodPost, "http://frontend"+path, strings.NewReader(form.Encode()))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.rt.RoundTrip(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, body
}

// direct evaluates the request on the plain engine, no middleware.
func (e *testEnv) direct(id tenant.ID, path string, form url.Values) (int, []byte) {
	body, status := e.evaluate(tenant.WithID(context.Background(), id), e.storages[id], path, form, false)
	return status, body
}

func rangeForm(q string, start, end time.Duration, step time.Duration) url.Values {
	return url.Values{"query": {q}, "start": {formatMillis(start.Milliseconds())}, "end": {formatMillis(end.Milliseconds())}, "step": {formatMillis(step.Milliseconds())}}
}

// requireSameResult compares two response bodies: the same series, the same
// timestamps and histograms, floats within 1e-12 relative. When byValue is
// set (topk, bottomk among ties), vectors at each timestamp are compared as
// multisets of values.
func requireSameResult(t testing.TB, want, got []byte, byValue bool) {
	t.Helper()
	w, err := decodeResponseBody(want)
	require.NoError(t, err, "%s", want)
	g, err := decodeResponseBody(got)
	require.NoError(t, err, "%s", got)
	require.Equal(t, w.ResultType, g.ResultType)
	require.Equal(t, w.Warnings, g.Warnings, "warnings")
	switch w.ResultType {
	case typeMatrix:
		if byValue {
			requireSameValuesPerStep(t, w.Matrix, g.Matrix)
			return
		}
		sortMatrix(w.Matrix)
		sortMatrix(g.Matrix)
		require.Len(t, g.Matrix, len(w.Matrix), "series: want %v got %v", metricNames(w.Matrix), metricNames(g.Matrix))
		for i := range w.Matrix {
			require.Equal(t, w.Matrix[i].Metric, g.Matrix[i].Metric)
			require.Len(t, g.Matrix[i].Values, len(w.Matrix[i].Values), "%s", w.Matrix[i].Metric)
			for j, p := range w.Matrix[i].Values {
				q := g.Matrix[i].Values[j]
				require.Equal(t, p.Timestamp, q.Timestamp, "%s", w.Matrix[i].Metric)
				requireClose(t, float64(p.Value), float64(q.Value), "%s at %d", w.Matrix[i].Metric, p.Timestamp)
			}
			require.Equal(t, w.Matrix[i].Histograms, g.Matrix[i].Histograms)
		}
	case typeVector:
		if byValue {
			var wv, gv []float64
			for _, s := range w.Vector {
				wv = append(wv, float64(s.Value))
			}
			for _, s := range g.Vector {
				gv = append(gv, float64(s.Value))
			}
			sort.Float64s(wv)
			sort.Float64s(gv)
			require.Len(t, gv, len(wv))
			for i := range wv {
				requireClose(t, wv[i], gv[i], "value %d", i)
			}
			return
		}
		sort.Slice(w.Vector, func(i, j int) bool { return w.Vector[i].Metric.Before(w.Vector[j].Metric) })
		sort.Slice(g.Vector, func(i, j int) bool { return g.Vector[i].Metric.Before(g.Vector[j].Metric) })
		require.Len(t, g.Vector, len(w.Vector))
		for i := range w.Vector {
			require.Equal(t, w.Vector[i].Metric, g.Vector[i].Metric)
			require.Equal(t, w.Vector[i].Timestamp, g.Vector[i].Timestamp)
			requireClose(t, float64(w.Vector[i].Value), float64(g.Vector[i].Value), "%s", w.Vector[i].Metric)
			require.Equal(t, w.Vector[i].Histogram, g.Vector[i].Histogram)
		}
	default:
		require.Equal(t, w, g)
	}
}

func metricNames(m []*model.SampleStream) []string {
	var out []string
	for _, s := range m {
		out = append(out, s.Metric.String())
	}
	return out
}

func requireSameValuesPerStep(t testing.TB, want, got []*model.SampleStream) {
	t.Helper()
	perStep := func(m []*model.SampleStream) map[model.Time][]float64 {
		out := map[model.Time][]float64{}
		for _, s := range m {
			for _, p := range s.Values {
				out[p.Timestamp] = append(out[p.Timestamp], float64(p.Value))
			}
		}
		for _, v := range out {
			sort.Float64s(v)
		}
		return out
	}
	w, g := perStep(want), perStep(got)
	require.Len(t, g, len(w))
	for ts, wv := range w {
		gv := g[ts]
		require.Len(t, gv, len(wv), "at %d", ts)
		for i := range wv {
			requireClose(t, wv[i], gv[i], "at %d", ts)
		}
	}
}

func requireClose(t testing.TB, want, got float64, msgAndArgs ...any) {
	t.Helper()
	if math.IsNaN(want) || math.IsNaN(got) {
		require.Equal(t, math.IsNaN(want), math.IsNaN(got), msgAndArgs...)
		return
	}
	if want == got {
		return
	}
	require.InEpsilon(t, want, got, 1e-12, msgAndArgs...)
}
