package distributor

import (
	"fmt"
	"net/http"
	"testing"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Issue #13 item 4: series and labels per request are bounded while
// decoding, in both protocols, with a 413 naming the count and the flag.
func TestPushDecodeLimits(t *testing.T) {
	rw1 := func(n, labels int) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			req := &ingesterpb.PushRequest{}
			for i := range n {
				s := series("m", nowMs)
				for l := 1; l < labels; l++ {
					s.Labels = append(s.Labels, ingesterpb.LabelPair{Name: fmt.Sprintf("l%02d", l), Value: fmt.Sprint(i)})
				}
				req.Timeseries = append(req.Timeseries, s)
			}
			return marshalSnappy(t, req)
		}
	}
	rw2 := func(n, labels int) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			st := writev2.NewSymbolTable()
			req := &writev2.Request{}
			for i := range n {
				kv := []string{"__name__", "m"}
				for l := 1; l < labels; l++ {
					kv = append(kv, fmt.Sprintf("l%02d", l), fmt.Sprint(i))
				}
				req.Timeseries = append(req.Timeseries, rw2Series(&st, false, kv...))
			}
			req.Symbols = st.Symbols()
			return marshalSnappy(t, req)
		}
	}
	tests := map[string]struct {
		body        func(t *testing.T) []byte
		contentType string
		wantStatus  int
		wantBody    string
	}{
		"RW1 11 series, limit 10": {body: rw1(11, 1), contentType: "application/x-protobuf", wantStatus: http.StatusRequestEntityTooLarge,
			wantBody: "request has 11 series, limit 10 (-distributor.max-series-per-request)"},
		"RW1 10 series, limit 10": {body: rw1(10, 1), contentType: "application/x-protobuf", wantStatus: http.StatusNoContent},
		"RW1 4 series of 6 labels, limit 20": {body: rw1(4, 6), contentType: "application/x-protobuf", wantStatus: http.StatusRequestEntityTooLarge,
			wantBody: "request has 24 labels, limit 20 (-distributor.max-labels-per-request)"},
		"RW2 11 series, limit 10": {body: rw2(11, 1), contentType: contentTypeV2, wantStatus: http.StatusRequestEntityTooLarge,
			wantBody: "request has 11 series, limit 10 (-distributor.max-series-per-request)"},
		"RW2 4 series of 6 labels, limit 20": {body: rw2(4, 6), contentType: contentTypeV2, wantStatus: http.StatusRequestEntityTooLarge,
			wantBody: "request has 24 labels, limit 20 (-distributor.max-labels-per-request)"},
		"RW2 3 series of 6 labels, limit 20": {body: rw2(3, 6), contentType: contentTypeV2, wantStatus: http.StatusNoContent},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, 1, func(c *Config, _ *limits.Limits) { c.MaxSeriesPerRequest, c.MaxLabelsPerRequest = 10, 20 })
			w := env.pushRaw(t, tc.body(t), tc.contentType, "snappy")
			require.Equal(t, tc.wantStatus, w.Code, body(t, w))
			require.Contains(t, body(t, w), tc.wantBody)
		})
	}
}

func TestInstanceLimitsHaveDefaults(t *testing.T) {
	c := defaultConfig()
	require.Equal(t, 2000, c.InstanceLimits.MaxInflightPushRequests, "Mimir's default")
	require.Equal(t, int64(100<<20), c.InstanceLimits.MaxInflightPushRequestBytes)
	require.Equal(t, 100_000, c.MaxSeriesPerRequest)
	require.Equal(t, 1_000_000, c.MaxLabelsPerRequest)
}
