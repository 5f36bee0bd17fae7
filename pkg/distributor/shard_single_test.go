package distributor

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestShardSingleOwner checks that a ring with one owner, placed with one
// lookup, sends the ingesters what the per-key placement sends.
func TestShardSingleOwner(t *testing.T) {
	nowMs := testNow.UnixMilli()
	meta := []ingesterpb.MetricMetadata{
		{Type: ingesterpb.MetricMetadata_METRIC_TYPE_GAUGE, MetricFamilyName: "up", Help: "Up."},
		{Type: ingesterpb.MetricMetadata_METRIC_TYPE_COUNTER, MetricFamilyName: "req_total", Help: "Requests."},
	}
	tss := []ingesterpb.TimeSeries{
		series("up", nowMs, "job", "a"),
		series("up", nowMs, "job", "b"),
		series("req_total", nowMs, "job", "a"),
	}
	for _, tc := range []struct {
		name      string
		ingesters int
		req       ingesterpb.PushRequest
		ringErr   error
	}{
		{name: "series and metadata", ingesters: 1, req: ingesterpb.PushRequest{Timeseries: tss, Metadata: meta}},
		{name: "series only, 3 replicas", ingesters: 3, req: ingesterpb.PushRequest{Timeseries: tss}},
		{name: "metadata only", ingesters: 1, req: ingesterpb.PushRequest{Metadata: meta}},
		{name: "ring error", ingesters: 1, req: ingesterpb.PushRequest{Timeseries: tss}, ringErr: errors.New("no ring")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][][]ingesterpb.PushRequest
			var codes [2]int
			for i, single := range []bool{false, true} {
				env := newTestEnv(t, tc.ingesters, nil)
				env.ring.single, env.ring.err = single, tc.ringErr
				req := tc.req
				w := env.push(t, &req)
				codes[i] = w.Code
				env.d.Service().StopAsync()
				require.NoError(t, env.d.Service().AwaitTerminated(context.Background()))
				for _, ing := range env.ingesters {
					got[i] = append(got[i], ing.received)
				}
			}
			require.Equal(t, codes[0], codes[1])
			require.Equal(t, got[0], got[1])
			if tc.ringErr == nil {
				require.Equal(t, http.StatusNoContent, codes[1])
				for _, r := range got[1] {
					require.Len(t, r, 1)
					require.Len(t, r[0].Timeseries, len(tc.req.Timeseries))
					require.Len(t, r[0].Metadata, len(tc.req.Metadata))
				}
			}
		})
	}
}
