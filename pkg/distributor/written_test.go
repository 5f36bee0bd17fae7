package distributor

import (
	"net/http"
	"testing"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Issue #13 item 8: when the ingesters store a push's valid series but
// refuse part of one (a sample out of order), the answer is 400 and the
// written-counts headers say what was written, in both protocols, at RF 1
// and RF 3.
func TestPushReportsWhatWasWrittenWhenIngestersRefusePart(t *testing.T) {
	rw1Body := func(t *testing.T) []byte {
		a := series("a", nowMs)
		a.Samples = append(a.Samples, ingesterpb.Sample{Value: 2, TimestampMs: nowMs + 1})
		a.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "t", Value: "1"}}, Value: 1, TimestampMs: nowMs}}
		return marshalSnappy(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{a, series("b", nowMs), series("c", nowMs)}})
	}
	rw2Body := func(t *testing.T) []byte {
		st := writev2.NewSymbolTable()
		a := rw2Series(&st, false, "__name__", "a")
		a.Samples = append(a.Samples, writev2.Sample{Value: 2, Timestamp: nowMs + 1})
		a.Exemplars = []writev2.Exemplar{{LabelsRefs: []uint32{st.Symbolize("t"), st.Symbolize("1")}, Value: 1, Timestamp: nowMs}}
		req := &writev2.Request{Timeseries: []writev2.TimeSeries{a, rw2Series(&st, false, "__name__", "b"), rw2Series(&st, false, "__name__", "c")}}
		req.Symbols = st.Symbols()
		return marshalSnappy(t, req)
	}
	// Series a (the first of every batch) lost one of its two samples.
	refusal := []ingesterpb.SeriesRefusal{{Series: 0, Samples: 1}}
	perr := []ingesterpb.PushError{{Reason: "sample_out_of_order", Message: "out of order sample", Samples: 1}}
	tests := map[string]struct {
		body        func(t *testing.T) []byte
		contentType string
		ingesters   int
	}{
		"RW1, RF 1": {body: rw1Body, contentType: "application/x-protobuf", ingesters: 1},
		"RW2, RF 1": {body: rw2Body, contentType: contentTypeV2, ingesters: 1},
		"RW1, RF 3": {body: rw1Body, contentType: "application/x-protobuf", ingesters: 3},
		"RW2, RF 3": {body: rw2Body, contentType: contentTypeV2, ingesters: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, tc.ingesters, func(*Config, *limits.Limits) {})
			for _, f := range env.ingesters {
				f.errors, f.refused = perr, refusal
			}
			w := env.pushRaw(t, tc.body(t), tc.contentType, "snappy")
			require.Equal(t, http.StatusBadRequest, w.Code, body(t, w))
			require.Contains(t, body(t, w), "(err-hearth-sample-out-of-order)")
			// 4 samples sent, 1 refused; the exemplar was kept.
			require.Equal(t, "3", w.Header().Get(remotewrite.HeaderSamplesWritten))
			require.Equal(t, "0", w.Header().Get(remotewrite.HeaderHistogramsWritten))
			require.Equal(t, "1", w.Header().Get(remotewrite.HeaderExemplarsWritten))
		})
	}
}

// An ingester that refuses series data without saying which series (one
// that predates the list) still fails the whole batch, as before.
func TestPushWithoutRefusalDetailCountsNothingOfTheBatch(t *testing.T) {
	env := newTestEnv(t, 1, nil)
	env.ingesters[0].errors = []ingesterpb.PushError{{Reason: "sample_out_of_order", Samples: 1}}
	w := env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("a", nowMs), series("b", nowMs)}})
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Equal(t, "0", w.Header().Get(remotewrite.HeaderSamplesWritten))
}

// Issue #13 item 8: a remote-write 1.0 body sent with the 2.0 content type
// decodes to nothing at all; it is refused, naming the likely mistake,
// instead of answered 204 with nothing written.
func TestRW2ContentTypeWithRW1BodyIsRefused(t *testing.T) {
	env := newTestEnv(t, 1, nil)
	rw1 := marshalSnappy(t, &ingesterpb.PushRequest{
		Timeseries: []ingesterpb.TimeSeries{series("up", nowMs)},
		Metadata:   []ingesterpb.MetricMetadata{{MetricFamilyName: "up", Help: "Up."}},
	})
	w := env.pushRaw(t, rw1, contentTypeV2, "snappy")
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, body(t, w), "remote-write 1.0 body (prometheus.WriteRequest) sent with the 2.0 content type")
	require.Equal(t, "0", w.Header().Get(remotewrite.HeaderSamplesWritten))
	// An empty 2.0 body is still a no-op.
	w = env.pushRaw(t, marshalSnappy(t, &writev2.Request{}), contentTypeV2, "snappy")
	require.Equal(t, http.StatusNoContent, w.Code)
}
