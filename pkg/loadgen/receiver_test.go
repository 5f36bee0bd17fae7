package loadgen

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// point is one received sample: a float or a native histogram.
type point struct {
	t    int64
	v    float64
	h    *histogram.Histogram
	recv time.Time
}

// receiver is a remote-write endpoint that decodes RW1 and RW2 with
// Prometheus' own types and keeps everything it got, per tenant.
type receiver struct {
	t testing.TB

	mu       sync.Mutex
	series   map[string]map[string][]point // tenant → labels.String() → points
	lbls     map[string]labels.Labels
	requests int
	samples  int
	headers  []http.Header
	// fail, when set, answers a request (numbered from 0) with a status
	// instead of accepting it; 0 accepts.
	fail func(n int) int
}

func newReceiver(t testing.TB, fail func(n int) int) (*receiver, string) {
	t.Helper()
	r := &receiver{t: t, series: map[string]map[string][]point{}, lbls: map[string]labels.Labels{}, fail: fail}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/api/v1/push"
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.headers)
	r.headers = append(r.headers, req.Header.Clone())
	if r.fail != nil {
		if code := r.fail(n); code != 0 {
			http.Error(w, "failing on purpose", code)
			return
		}
	}
	raw, err := snappy.Decode(nil, body)
	require.NoError(r.t, err)
	tenant := req.Header.Get("X-Scope-OrgID")
	if r.series[tenant] == nil {
		r.series[tenant] = map[string][]point{}
	}
	add := func(ls labels.Labels, p point) {
		p.recv = now
		key := ls.String()
		r.lbls[key] = ls
		r.series[tenant][key] = append(r.series[tenant][key], p)
		r.samples++
	}
	var b labels.ScratchBuilder
	r.requests++
	if strings.Contains(req.Header.Get("Content-Type"), "io.prometheus.write.v2.Request") {
		require.Equal(r.t, "2.0.0", req.Header.Get("X-Prometheus-Remote-Write-Version"))
		var wr writev2.Request
		require.NoError(r.t, wr.Unmarshal(raw))
		require.Empty(r.t, wr.Symbols[0])
		for _, ts := range wr.Timeseries {
			ls, err := ts.ToLabels(&b, wr.Symbols)
			require.NoError(r.t, err)
			require.NotEqual(r.t, writev2.Metadata_METRIC_TYPE_UNSPECIFIED, ts.Metadata.Type)
			for _, s := range ts.Samples {
				add(ls, point{t: s.Timestamp, v: s.Value})
			}
			for _, h := range ts.Histograms {
				add(ls, point{t: h.Timestamp, h: h.ToIntHistogram()})
			}
		}
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", "0")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	require.Equal(r.t, "0.1.0", req.Header.Get("X-Prometheus-Remote-Write-Version"))
	var wr prompb.WriteRequest
	require.NoError(r.t, wr.Unmarshal(raw))
	for _, ts := range wr.Timeseries {
		ls := ts.ToLabels(&b, nil)
		for _, s := range ts.Samples {
			add(ls, point{t: s.Timestamp, v: s.Value})
		}
		for _, h := range ts.Histograms {
			add(ls, point{t: h.Timestamp, h: h.ToIntHistogram()})
		}
	}
	w.WriteHeader(http.StatusOK)
}

// tenantSeries returns the series of a tenant (labels.String() → points).
func (r *receiver) tenantSeries(tenant string) map[string][]point {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.series[tenant]
}

// selectSeries counts the series of a tenant whose labels match every
// name=value pair.
func (r *receiver) selectSeries(tenant string, match ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for key := range r.series[tenant] {
		ls := r.lbls[key]
		ok := true
		for i := 0; i < len(match); i += 2 {
			if ls.Get(match[i]) != match[i+1] {
				ok = false
			}
		}
		if ok {
			n++
		}
	}
	return n
}
