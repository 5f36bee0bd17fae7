package app

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestAllInOneReusedPushBuffersLeaveStoredDataIntact pushes requests of
// identical size one after the other, so that the distributor decodes each
// into the pooled buffers of the one before, which the all-in-one hands to
// its own ingester without a gRPC copy in between. Every series' labels,
// float samples and native histograms must read back as pushed.
func TestAllInOneReusedPushBuffersLeaveStoredDataIntact(t *testing.T) {
	p := startProcess(t, TargetAll)
	now := time.Now().Truncate(time.Second)
	const requests, perRequest = 20, 5
	for r := range requests {
		req := &prompb.WriteRequest{}
		for i := range perRequest {
			job := prompb.Label{Name: "job", Value: fmt.Sprintf("job-%02d-%02d", r, i)}
			req.Timeseries = append(req.Timeseries,
				prompb.TimeSeries{
					Labels:  []prompb.Label{{Name: "__name__", Value: "reuse"}, job},
					Samples: []prompb.Sample{{Value: float64(r*100 + i), Timestamp: now.UnixMilli()}},
				},
				prompb.TimeSeries{
					Labels: []prompb.Label{{Name: "__name__", Value: "reuse_hist"}, job},
					Histograms: []prompb.Histogram{{
						Count: &prompb.Histogram_CountInt{CountInt: uint64(2 * (r + 1))}, ZeroCount: &prompb.Histogram_ZeroCountInt{},
						Sum: float64(r), Timestamp: now.UnixMilli(),
						PositiveSpans: []prompb.BucketSpan{{Offset: 0, Length: 2}}, PositiveDeltas: []int64{int64(r + 1), 0},
					}},
				})
		}
		require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-a", req).StatusCode)
	}

	api := queryAPI(t, p.app.HTTPAddr(), "team-a")
	ctx := context.Background()
	v, _, _, err := api.Query(ctx, "reuse", now)
	require.NoError(t, err)
	got := map[string]model.SampleValue{}
	for _, s := range v.(model.Vector) {
		got[string(s.Metric["job"])] = s.Value
	}
	v, _, _, err = api.Query(ctx, "histogram_count(reuse_hist)", now)
	require.NoError(t, err)
	gotHist := map[string]model.SampleValue{}
	for _, s := range v.(model.Vector) {
		gotHist[string(s.Metric["job"])] = s.Value
	}
	want, wantHist := map[string]model.SampleValue{}, map[string]model.SampleValue{}
	for r := range requests {
		for i := range perRequest {
			job := fmt.Sprintf("job-%02d-%02d", r, i)
			want[job] = model.SampleValue(r*100 + i)
			wantHist[job] = model.SampleValue(2 * (r + 1))
		}
	}
	require.Equal(t, want, got)
	require.Equal(t, wantHist, gotHist)
}
