package otlp

import (
	"bytes"
	"math"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// fuzzSeeds are exports of every metric type, NaN and Inf values, and
// hostile attributes.
func fuzzSeeds(t testing.TB) []pmetric.Metrics {
	summary := func(ms pmetric.MetricSlice) {
		m := ms.AppendEmpty()
		m.SetName("rpc.latency")
		dp := m.SetEmptySummary().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
		dp.SetCount(3)
		dp.SetSum(math.Inf(1))
		q := dp.QuantileValues().AppendEmpty()
		q.SetQuantile(0.5)
		q.SetValue(math.NaN())
	}
	hostile := metrics(gauge("__name__", math.NaN(), "__name__", "x", "job", "j", "", "empty", "ünïcödé", "v"))
	hostile.ResourceMetrics().At(0).Resource().Attributes().PutStr("instance", "collides")
	hostile.ResourceMetrics().At(0).Resource().Attributes().PutEmptyMap("nested").PutStr("a", "b")
	return []pmetric.Metrics{
		metrics(gauge("temp", 21, "room", "kitchen"), sum("requests", pmetric.AggregationTemporalityCumulative, 3), expHistogram("latency"), summary),
		metrics(sum("deltas", pmetric.AggregationTemporalityDelta, 2), gauge("inf", math.Inf(-1))),
		hostile,
	}
}

// FuzzDecode: no input panics; what decodes round-trips through the
// encoding.
func FuzzDecode(f *testing.F) {
	for _, md := range fuzzSeeds(f) {
		f.Add(encode(f, md, Protobuf), false)
		f.Add(encode(f, md, JSON), true)
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, false)
	f.Add(nestedAnyValueProto(70), false)
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":{"aggregationTemporality":7}}]}]}]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		enc := Protobuf
		if isJSON {
			enc = JSON
		}
		req, err := Decode(body, enc)
		if err != nil {
			return
		}
		again, err := req.MarshalProto()
		require.NoError(t, err)
		req2, err := Decode(again, Protobuf)
		require.NoError(t, err)
		again2, err := req2.MarshalProto()
		require.NoError(t, err)
		require.True(t, bytes.Equal(again, again2), "protobuf round trip")
	})
}

// FuzzHandler: whatever the body, the handler answers a status an OTLP
// exporter understands, with a body in the request's encoding, and never
// panics (decoding, planning and Prometheus's translation included); a
// request it tells the distributor has only ASCII labels has only ASCII
// labels.
func FuzzHandler(f *testing.F) {
	for _, md := range fuzzSeeds(f) {
		f.Add(encode(f, md, Protobuf), false)
		f.Add(encode(f, md, JSON), true)
	}
	p := &fakePusher{}
	h := newTestHandler(f, p, nil)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		enc, ct := Protobuf, ContentTypeProtobuf
		if isJSON {
			enc, ct = JSON, ContentTypeJSON
		}
		w := serve(h, sent{body: body, contentType: ct})
		require.Empty(t, p.notASCII, "a label in a request flagged ASCIILabels is not ASCII")
		require.Empty(t, p.badLocal, "a series' labels.Labels are not its pairs")
		require.Contains(t, []int{http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge}, w.Code, w.Body.String())
		if w.Code == http.StatusOK {
			resp := pmetricotlp.NewExportResponse()
			if enc == JSON {
				require.NoError(t, resp.UnmarshalJSON(w.Body.Bytes()))
			} else {
				require.NoError(t, resp.UnmarshalProto(w.Body.Bytes()))
			}
		}
	})
}
