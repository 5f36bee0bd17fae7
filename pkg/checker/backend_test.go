package checker

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
)

// faults are what the fake backend does wrong; nil fields do nothing.
type faults struct {
	// push answers push attempt n (from 0) with a status instead of 204;
	// stored says whether the samples are written anyway. 0 is a normal
	// answer.
	push func(n int) (status int, stored bool)
	// drop acknowledges a sample without storing it.
	drop func(series string, n int) bool
	// corrupt stores another value than the one pushed.
	corrupt func(series string, n int) bool
	// extra stores a sample nobody pushed, with push attempt n.
	extra func(n int) bool
	// query answers query n (from 0) with a 503 when it returns true.
	query func(n int) bool
}

// backend is a remote-write receiver and Prometheus query API over a
// real Prometheus TSDB and PromQL engine, with injectable faults.
type backend struct {
	t      testing.TB
	st     *teststorage.TestStorage
	engine *promql.Engine
	faults faults

	mu      sync.Mutex
	pushes  int
	queries int
	tenants map[string]int // tenant (header or Basic-auth user) → requests
}

func newBackend(t testing.TB, f faults) (*backend, string) {
	t.Helper()
	b := &backend{
		t:       t,
		st:      teststorage.New(t),
		engine:  promql.NewEngine(promql.EngineOpts{MaxSamples: 10_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}),
		faults:  f,
		tenants: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/push", b.push)
	mux.HandleFunc("/prometheus/api/v1/query", b.query)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func (b *backend) tenant(r *http.Request) string {
	if user, pass, ok := r.BasicAuth(); ok {
		return user + ":" + pass
	}
	return r.Header.Get("X-Scope-OrgID")
}

func (b *backend) push(w http.ResponseWriter, r *http.Request) {
	// A handler runs on the server's goroutine: it reports a bad request
	// with Errorf (FailNow may only be called from the test's goroutine).
	var req prompb.WriteRequest
	body, err := io.ReadAll(r.Body)
	if err == nil {
		var raw []byte
		if raw, err = snappy.Decode(nil, body); err == nil {
			err = req.Unmarshal(raw)
		}
	}
	if err != nil {
		b.t.Errorf("decoding a push: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.pushes
	b.pushes++
	b.tenants[b.tenant(r)]++
	status, stored := 0, true
	if b.faults.push != nil {
		if status, stored = b.faults.push(n); status == 0 {
			stored = true
		}
	}
	if stored {
		app := b.st.Appender(r.Context())
		for _, ts := range req.Timeseries {
			lb := labels.NewScratchBuilder(len(ts.Labels))
			for _, l := range ts.Labels {
				lb.Add(l.Name, l.Value)
			}
			lset := lb.Labels()
			series := lset.Get(seriesLabel)
			for _, s := range ts.Samples {
				if b.faults.drop != nil && b.faults.drop(series, n) {
					continue
				}
				v := s.Value
				if b.faults.corrupt != nil && b.faults.corrupt(series, n) {
					v++
				}
				if _, err := app.Append(0, lset, s.Timestamp, v); err != nil {
					b.t.Errorf("appending: %v", err)
				}
				if b.faults.extra != nil && b.faults.extra(n) && series == "0" {
					if _, err := app.Append(0, lset, s.Timestamp+1, 42); err != nil {
						b.t.Errorf("appending: %v", err)
					}
				}
			}
		}
		if err := app.Commit(); err != nil {
			b.t.Errorf("committing: %v", err)
		}
	}
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		http.Error(w, "failing on purpose", status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *backend) query(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	n := b.queries
	b.queries++
	b.tenants[b.tenant(r)]++
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if b.faults.query != nil && b.faults.query(n) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"unavailable","error":"failing on purpose"}`))
		return
	}
	// On the server's goroutine: report with Errorf, not require.
	fail := func(err error) {
		b.t.Errorf("answering a query: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
	if err := r.ParseForm(); err != nil {
		fail(err)
		return
	}
	sec, err := strconv.ParseFloat(r.Form.Get("time"), 64)
	if err != nil {
		fail(err)
		return
	}
	ts := time.UnixMilli(int64(math.Round(sec * 1000)))
	q, err := b.engine.NewInstantQuery(r.Context(), b.st, nil, r.Form.Get("query"), ts)
	if err != nil {
		fail(err)
		return
	}
	defer q.Close()
	res := q.Exec(r.Context())
	if res.Err != nil {
		fail(res.Err)
		return
	}
	var out model.Matrix
	for _, s := range res.Value.(promql.Matrix) {
		ss := &model.SampleStream{Metric: model.Metric{}}
		s.Metric.Range(func(l labels.Label) { ss.Metric[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		for _, p := range s.Floats {
			ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.F)})
		}
		out = append(out, ss)
	}
	require.NoError(b.t, json.NewEncoder(w).Encode(map[string]any{
		"status": "success",
		"data":   map[string]any{"resultType": "matrix", "result": out},
	}))
}

func (b *backend) seenTenants() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.tenants {
		out[k] = v
	}
	return out
}

// drive runs a checker until it has acknowledged pushes pushes, stops it
// and verifies the run.
func drive(t *testing.T, cfg Config, pushes uint64) (*Checker, *Summary) {
	t.Helper()
	c, err := New(cfg, testLogger(t))
	require.NoError(t, err)
	c.Start(context.Background())
	require.Eventually(t, func() bool { return c.Progress().PushesAcknowledged >= pushes }, 30*time.Second, time.Millisecond)
	c.Stop()
	sum, err := c.Verify(context.Background())
	require.NoError(t, err)
	return c, sum
}
