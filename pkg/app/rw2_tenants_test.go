package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// rw2Push sends one remote-write 2.0 request and returns the response.
func rw2Push(t *testing.T, addr, tenantID string, req *writev2.Request) *http.Response {
	t.Helper()
	raw, err := req.Marshal()
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/push", bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	r.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// histogramRequest is one series with one native histogram: exponential
// (schema 3) or custom buckets (schema -53).
func histogramRequest(name string, i int, ts time.Time, custom bool) *writev2.Request {
	st := writev2.NewSymbolTable()
	h := writev2.Histogram{
		Count: &writev2.Histogram_CountInt{CountInt: uint64(i + 1)}, ZeroCount: &writev2.Histogram_ZeroCountInt{},
		Sum: float64(i), Timestamp: ts.UnixMilli(), Schema: 3,
		PositiveSpans: []writev2.BucketSpan{{Offset: 0, Length: 1}}, PositiveDeltas: []int64{int64(i + 1)},
	}
	if custom {
		h.Schema, h.CustomValues = -53, []float64{0.5}
	}
	return &writev2.Request{
		Timeseries: []writev2.TimeSeries{{
			LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize(name), st.Symbolize("i"), st.Symbolize(fmt.Sprint(i))},
			Histograms: []writev2.Histogram{h},
		}},
		Symbols: st.Symbols(),
	}
}

// TestAllInOneCustomBucketsOfOneTenantLeaveOthersHistogramsValid is issue
// #21's report: tenant ta pushes exponential native histograms over
// remote-write 2.0, tenant tb one custom-bucket histogram, then ta more
// exponential ones. The pooled decoder used to leave tb's (empty, non-nil)
// custom bounds on the reused histogram, and Prometheus's validation then
// refused ta's valid histograms with 400. Every push must be 204 and every
// histogram must read back.
func TestAllInOneCustomBucketsOfOneTenantLeaveOthersHistogramsValid(t *testing.T) {
	p := startProcess(t, TargetAll)
	addr := p.app.HTTPAddr()
	now := time.Now().Truncate(time.Second)
	n := 0
	pushTA := func(count int) {
		for range count {
			resp := rw2Push(t, addr, "ta", histogramRequest("exp_hist", n, now, false))
			require.Equal(t, http.StatusNoContent, resp.StatusCode, "ta's histogram %d", n)
			require.Equal(t, "1", resp.Header.Get("X-Prometheus-Remote-Write-Histograms-Written"))
			n++
		}
	}
	pushTA(5)
	for i := range 3 {
		resp := rw2Push(t, addr, "tb", histogramRequest("nhcb_hist", i, now, true))
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "tb's custom-bucket histogram")
	}
	pushTA(40)

	ctx := context.Background()
	v, _, _, err := queryAPI(t, addr, "ta").Query(ctx, "count(histogram_count(exp_hist))", now)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(n), v.(model.Vector)[0].Value)
	v, _, _, err = queryAPI(t, addr, "tb").Query(ctx, "count(histogram_count(nhcb_hist))", now)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(3), v.(model.Vector)[0].Value)
	// Neither tenant sees the other's series.
	v, _, _, err = queryAPI(t, addr, "tb").Query(ctx, "count(exp_hist)", now)
	require.NoError(t, err)
	require.Empty(t, v.(model.Vector))
}

// floatRequest is one float sample per named series, at ts.
func floatRequest(ts time.Time, names ...string) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for _, n := range names {
		req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
			LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize(n)},
			Samples:    []writev2.Sample{{Value: 1, Timestamp: ts.UnixMilli()}},
		})
	}
	req.Symbols = st.Symbols()
	return req
}

// Issue #13 item 8 through the all-in-one: a push whose series b is new
// and whose series a is out of order is answered 400, and the headers
// count b's sample as written (they said 0).
func TestAllInOneOutOfOrderSeriesDoesNotHideWhatWasWritten(t *testing.T) {
	p := startProcess(t, TargetAll)
	addr := p.app.HTTPAddr()
	now := time.Now().Truncate(time.Second)
	require.Equal(t, http.StatusNoContent, rw2Push(t, addr, "ta", floatRequest(now, "a")).StatusCode)

	resp := rw2Push(t, addr, "ta", floatRequest(now.Add(-time.Minute), "a", "b", "c"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"))

	v, _, _, err := queryAPI(t, addr, "ta").Query(context.Background(), "count({__name__=~\"b|c\"})", now)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(2), v.(model.Vector)[0].Value)
}
