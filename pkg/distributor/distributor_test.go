package distributor

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

var nowMs = testNow.UnixMilli()

func TestPushQuorum(t *testing.T) {
	down := status.Error(codes.Unavailable, "connection refused")
	ooo := []ingesterpb.PushError{{Reason: "sample_out_of_order", Message: `out of order sample for series {__name__="up"}`, Samples: 1}}
	limit := []ingesterpb.PushError{{Reason: "instance_limit", Message: "too many in-flight pushes", Samples: 1, Retryable: true}}
	tests := map[string]struct {
		setup        func(ings []*fakeIngester)
		wantStatus   int
		wantBody     string
		wantDiscards float64
	}{
		"all replicas succeed": {
			setup:      func([]*fakeIngester) {},
			wantStatus: http.StatusNoContent,
		},
		"one replica down still reaches quorum": {
			setup:      func(ings []*fakeIngester) { ings[2].err = down },
			wantStatus: http.StatusNoContent,
		},
		"two replicas down is retryable": {
			setup:      func(ings []*fakeIngester) { ings[0].err, ings[1].err = down, down },
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   "connection refused",
		},
		"soft error on one replica is outvoted": {
			setup:      func(ings []*fakeIngester) { ings[1].errors = ooo },
			wantStatus: http.StatusNoContent,
		},
		"soft error agreed by a quorum is a 400": {
			setup:        func(ings []*fakeIngester) { ings[0].errors, ings[2].errors = ooo, ooo },
			wantStatus:   http.StatusBadRequest,
			wantBody:     "(err-hearth-sample-out-of-order)",
			wantDiscards: 1,
		},
		"soft error on every replica is counted once": {
			setup:        func(ings []*fakeIngester) { ings[0].errors, ings[1].errors, ings[2].errors = ooo, ooo, ooo },
			wantStatus:   http.StatusBadRequest,
			wantBody:     "out of order sample",
			wantDiscards: 1,
		},
		"retryable ingester errors on a quorum are a 5xx": {
			setup:      func(ings []*fakeIngester) { ings[0].errors, ings[1].errors = limit, limit },
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   "instance_limit",
		},
		"one soft error and one failure is retryable": {
			setup:      func(ings []*fakeIngester) { ings[0].errors, ings[1].err = ooo, down },
			wantStatus: http.StatusServiceUnavailable,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, 3, nil)
			tc.setup(env.ingesters)
			w := env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("up", nowMs, "job", "a")}})
			require.Equal(t, tc.wantStatus, w.Code, body(t, w))
			require.Contains(t, body(t, w), tc.wantBody)
			// Stopping waits for every push, so the counts are final.
			env.d.Service().StopAsync()
			require.NoError(t, env.d.Service().AwaitTerminated(t.Context()))
			require.Equal(t, tc.wantDiscards, testutil.ToFloat64(env.d.metrics.discardedSamples.WithLabelValues("tenant-1", "sample_out_of_order")))
			for i, ing := range env.ingesters {
				require.Len(t, ing.series(), 1, "ingester %d gets the series whatever the outcome", i)
			}
		})
	}
}

func TestPushRingErrorIsRetryable(t *testing.T) {
	env := newTestEnv(t, 3, nil)
	env.ring.err = errors.New("empty ring")
	w := env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("up", nowMs)}})
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Contains(t, body(t, w), "empty ring")
}

// The third replica's push outlives the request; the pooled body its
// strings alias must not be reused before it has been sent.
func TestDetachedPushKeepsTheBodyAlive(t *testing.T) {
	env := newTestEnv(t, 3, nil)
	slow := env.ingesters[2]
	slow.block = make(chan struct{})
	slow.entered = make(chan struct{}, 10)

	w := env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("first", nowMs, "job", "aaaaaaaa")}})
	require.Equal(t, http.StatusNoContent, w.Code, body(t, w))
	<-slow.entered // the detached push started and holds its reference

	// Later requests would overwrite a recycled body.
	for range 5 {
		w = env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("other", nowMs, "job", "bbbbbbbb")}})
		require.Equal(t, http.StatusNoContent, w.Code, body(t, w))
	}
	require.Empty(t, slow.series())
	close(slow.block)
	env.d.Service().StopAsync()
	require.NoError(t, env.d.Service().AwaitTerminated(t.Context()))

	got := slow.series()
	require.Len(t, got, 6)
	names := map[string]int{}
	for _, s := range got {
		names[s.Labels[0].Value+" "+s.Labels[1].Value]++
	}
	require.Equal(t, map[string]int{"first aaaaaaaa": 1, "other bbbbbbbb": 5}, names)
}

func TestPushWritesValidSeriesAndRefusesInvalid(t *testing.T) {
	future := nowMs + 11*60*1000
	tests := map[string]struct {
		series     ingesterpb.TimeSeries
		mutate     func(*limits.Limits)
		wantReason string
		wantBody   string
	}{
		"no metric name":       {series: ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "job", Value: "a"}}, Samples: []ingesterpb.Sample{{TimestampMs: nowMs}}}, wantReason: ReasonMissingMetricName, wantBody: "no metric name"},
		"metric name empty":    {series: series("", nowMs, "job", "a"), wantReason: ReasonMissingMetricName},
		"metric name not utf8": {series: series("a\xffb", nowMs), wantReason: ReasonInvalidMetricName},
		"empty label name":     {series: ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "", Value: "x"}, {Name: "__name__", Value: "up"}}, Samples: []ingesterpb.Sample{{TimestampMs: nowMs}}}, wantReason: ReasonInvalidLabelName},
		"label name not utf8":  {series: series("up", nowMs, "a\xff", "x"), wantReason: ReasonInvalidLabelName},
		"label value not utf8": {series: series("up", nowMs, "job", "\xff"), wantReason: ReasonInvalidLabelValue},
		// Past the first eight bytes, where the ASCII check reads words.
		"long metric name not utf8": {series: series("metric_name_\xff", nowMs), wantReason: ReasonInvalidMetricName},
		"long label name not utf8":  {series: series("up", nowMs, "label_name_\xfe", "x"), wantReason: ReasonInvalidLabelName},
		"long label value not utf8": {series: series("up", nowMs, "job", "0123456789\xc3"), wantReason: ReasonInvalidLabelValue},
		// A length of two bytes: past the decoder's fast path for labels.
		"label value of 200 bytes not utf8": {series: series("up", nowMs, "job", strings.Repeat("v", 200)+"\xff"), wantReason: ReasonInvalidLabelValue},
		"duplicate label":                   {series: series("up", nowMs, "job", "a", "job", "b"), wantReason: ReasonDuplicateLabelNames, wantBody: `"job"`},
		"duplicate label, unsorted":         {series: series("up", nowMs, "job", "a", "instance", "b", "job", "c"), wantReason: ReasonDuplicateLabelNames, wantBody: `"job"`},
		"label name too long": {series: series("up", nowMs, strings.Repeat("n", 20), "a"), wantReason: ReasonLabelNameTooLong, wantBody: "20, limit 10",
			mutate: func(l *limits.Limits) { l.MaxLabelNameLength = 10 }},
		"label value too long": {series: series("up", nowMs, "job", strings.Repeat("v", 30)), wantReason: ReasonLabelValueTooLong, wantBody: "30, limit 20",
			mutate: func(l *limits.Limits) { l.MaxLabelValueLength = 20 }},
		"too many labels": {series: series("up", nowMs, "a", "1", "b", "2", "c", "3"), wantReason: ReasonMaxLabelNames, wantBody: "4, limit 3",
			mutate: func(l *limits.Limits) { l.MaxLabelNamesPerSeries = 3 }},
		"too far in the future": {series: series("up", future), wantReason: ReasonTooFarInFuture},
		"too old when rejecting old samples": {series: series("up", nowMs-15*24*3600*1000), wantReason: ReasonTooOld,
			mutate: func(l *limits.Limits) { l.RejectOldSamples = true }},
		"invalid histogram": {series: ingesterpb.TimeSeries{
			Labels:     []ingesterpb.LabelPair{{Name: "__name__", Value: "h"}},
			Histograms: []ingesterpb.Histogram{{Count: &ingesterpb.Histogram_CountInt{CountInt: 1}, TimestampMs: nowMs, PositiveSpans: []ingesterpb.BucketSpan{{Length: 2}}, PositiveDeltas: []int64{1}}},
		}, wantReason: ReasonInvalidHistogram},
		"histogram mixing integer count and float buckets": {series: ingesterpb.TimeSeries{
			Labels:     []ingesterpb.LabelPair{{Name: "__name__", Value: "h"}},
			Histograms: []ingesterpb.Histogram{{Count: &ingesterpb.Histogram_CountInt{CountInt: 1}, TimestampMs: nowMs, PositiveSpans: []ingesterpb.BucketSpan{{Length: 1}}, PositiveCounts: []float64{1}}},
		}, wantReason: ReasonInvalidHistogram},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, 3, func(_ *Config, l *limits.Limits) {
				if tc.mutate != nil {
					tc.mutate(l)
				}
			})
			good := series("good", nowMs, "job", "a")
			w := env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{tc.series, good, good}})
			require.Equal(t, http.StatusBadRequest, w.Code)
			b := body(t, w)
			require.Contains(t, b, "(err-hearth-"+kebab(tc.wantReason)+")")
			require.Contains(t, b, tc.wantBody)
			require.Contains(t, b, "tenant-1")
			n := len(tc.series.Samples) + len(tc.series.Histograms)
			require.Equal(t, float64(n), testutil.ToFloat64(env.d.metrics.discardedSamples.WithLabelValues("tenant-1", tc.wantReason)))
			env.d.Service().StopAsync()
			require.NoError(t, env.d.Service().AwaitTerminated(t.Context()))
			for _, ing := range env.ingesters {
				got := ing.series()
				require.Len(t, got, 2, "the valid series are written")
				require.Equal(t, "good", got[0].Labels[0].Value)
			}
		})
	}
}

func TestPushKeepsEverythingValid(t *testing.T) {
	env := newTestEnv(t, 1, nil)
	req := &ingesterpb.PushRequest{
		Timeseries: []ingesterpb.TimeSeries{
			{
				// Empty values are dropped, as Prometheus does.
				Labels:  []ingesterpb.LabelPair{{Name: "__name__", Value: "up"}, {Name: "empty", Value: ""}, {Name: "job", Value: "a"}, {Name: "zone", Value: "ü 🔥"}},
				Samples: []ingesterpb.Sample{{Value: math.NaN(), TimestampMs: nowMs}},
				Exemplars: []ingesterpb.Exemplar{
					{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "abc"}}, Value: 1, TimestampMs: nowMs},
				},
			},
			{
				Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "utf8.metric with spaces"}, {Name: "label.with.dots", Value: "x"}},
				Histograms: []ingesterpb.Histogram{{
					Count: &ingesterpb.Histogram_CountInt{CountInt: 3}, Sum: 2, ZeroCount: &ingesterpb.Histogram_ZeroCountInt{ZeroCountInt: 1},
					PositiveSpans: []ingesterpb.BucketSpan{{Length: 2}}, PositiveDeltas: []int64{1, 0}, TimestampMs: nowMs,
				}},
			},
		},
		Metadata: []ingesterpb.MetricMetadata{{Type: ingesterpb.MetricMetadata_METRIC_TYPE_GAUGE, MetricFamilyName: "up", Help: "Up."}},
	}
	w := env.push(t, req)
	require.Equal(t, http.StatusNoContent, w.Code, body(t, w))
	env.d.Service().StopAsync()
	require.NoError(t, env.d.Service().AwaitTerminated(t.Context()))
	ing := env.ingesters[0]
	require.Len(t, ing.received, 1)
	got := ing.received[0]
	require.Len(t, got.Timeseries, 2)
	require.Equal(t, []ingesterpb.LabelPair{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}, {Name: "zone", Value: "ü 🔥"}}, got.Timeseries[0].Labels)
	require.Len(t, got.Timeseries[0].Exemplars, 1)
	require.Len(t, got.Timeseries[1].Histograms, 1)
	require.Equal(t, req.Metadata, got.Metadata)
	require.Equal(t, 1.0, testutil.ToFloat64(env.d.metrics.receivedHistograms.WithLabelValues("tenant-1")))
}

func TestPushRefusesBadExemplarsAndMetadataOnly(t *testing.T) {
	env := newTestEnv(t, 1, func(_ *Config, l *limits.Limits) { l.MaxMetadataLength = 10 })
	s := series("up", nowMs)
	s.Exemplars = []ingesterpb.Exemplar{
		{Labels: nil, TimestampMs: nowMs},
		{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: strings.Repeat("x", 200)}}, TimestampMs: nowMs},
		{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "ok"}}, TimestampMs: nowMs},
	}
	w := env.push(t, &ingesterpb.PushRequest{
		Timeseries: []ingesterpb.TimeSeries{s},
		Metadata:   []ingesterpb.MetricMetadata{{MetricFamilyName: "up", Help: strings.Repeat("h", 11)}},
	})
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, body(t, w), "(err-hearth-exemplar-labels-too-long); 1 more items refused")
	env.d.Service().StopAsync()
	require.NoError(t, env.d.Service().AwaitTerminated(t.Context()))
	got := env.ingesters[0].received[0]
	require.Len(t, got.Timeseries[0].Samples, 1)
	// An exemplar without labels is stored, as Prometheus does.
	require.Len(t, got.Timeseries[0].Exemplars, 2)
	require.Empty(t, got.Timeseries[0].Exemplars[0].Labels)
	require.Equal(t, "ok", got.Timeseries[0].Exemplars[1].Labels[0].Value)
	require.Empty(t, got.Metadata)
	require.Equal(t, 1.0, testutil.ToFloat64(env.d.metrics.discardedMetadata.WithLabelValues("tenant-1", ReasonMetadataHelpTooLong)))
	require.Equal(t, 1.0, testutil.ToFloat64(env.d.metrics.discardedSamples.WithLabelValues("tenant-1", ReasonExemplarTooLong)))
}

func TestPushHandlerRejectsBadRequests(t *testing.T) {
	valid, err := (&ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("up", nowMs)}}).Marshal()
	require.NoError(t, err)
	big := make([]byte, 2000)
	tests := map[string]struct {
		body        []byte
		contentType string
		encoding    string
		wantStatus  int
		wantBody    string
	}{
		"unknown content type":            {body: snappy.Encode(nil, valid), contentType: "application/json", encoding: "snappy", wantStatus: http.StatusUnsupportedMediaType, wantBody: "application/json"},
		"unknown proto message":           {body: snappy.Encode(nil, valid), contentType: "application/x-protobuf;proto=foo.Bar", encoding: "snappy", wantStatus: http.StatusUnsupportedMediaType, wantBody: "foo.Bar"},
		"unknown content encoding":        {body: valid, contentType: "application/x-protobuf", encoding: "gzip", wantStatus: http.StatusUnsupportedMediaType, wantBody: "gzip"},
		"snappy claim beyond expansion":   {body: []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, contentType: "application/x-protobuf", encoding: "snappy", wantStatus: http.StatusBadRequest, wantBody: "snappy header claims 4294967295 decoded bytes, but 6 compressed bytes decode to at most 128"},
		"corrupt snappy":                  {body: []byte{0x05, 0x00}, contentType: "application/x-protobuf", encoding: "snappy", wantStatus: http.StatusBadRequest, wantBody: "snappy"},
		"malformed protobuf":              {body: snappy.Encode(nil, []byte{0x0a, 0x05, 0x0a}), contentType: "application/x-protobuf", encoding: "snappy", wantStatus: http.StatusBadRequest, wantBody: "PushRequest.timeseries at offset 1"},
		"decoded size over the limit":     {body: snappy.Encode(nil, big), contentType: "application/x-protobuf", encoding: "snappy", wantStatus: http.StatusRequestEntityTooLarge, wantBody: "decoded body of 2000 bytes, limit 1000"},
		"compressed size over the limit":  {body: big, contentType: "application/x-protobuf", encoding: "snappy", wantStatus: http.StatusRequestEntityTooLarge, wantBody: "compressed body"},
		"explicit RW1 proto parameter":    {body: snappy.Encode(nil, valid), contentType: "application/x-protobuf;proto=prometheus.WriteRequest", encoding: "snappy", wantStatus: http.StatusNoContent},
		"no content type is RW1":          {body: snappy.Encode(nil, valid), encoding: "snappy", wantStatus: http.StatusNoContent},
		"RW2 body with garbage is a 400":  {body: snappy.Encode(nil, []byte{0x2a, 0x05}), contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request", encoding: "snappy", wantStatus: http.StatusBadRequest, wantBody: "remote-write 2.0"},
		"empty RW1 request is a no-op":    {body: snappy.Encode(nil, nil), contentType: "application/x-protobuf", encoding: "snappy", wantStatus: http.StatusNoContent},
		"missing content encoding snappy": {body: snappy.Encode(nil, valid), contentType: "application/x-protobuf", wantStatus: http.StatusNoContent},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, 1, func(c *Config, _ *limits.Limits) { c.MaxRecvMsgSize = 1000 })
			w := env.pushRaw(t, tc.body, tc.contentType, tc.encoding)
			require.Equal(t, tc.wantStatus, w.Code, body(t, w))
			require.Contains(t, body(t, w), tc.wantBody)
		})
	}
}

func TestPushRequiresATenant(t *testing.T) {
	env := newTestEnv(t, 1, nil)
	_, err := env.d.Push(t.Context(), nil)
	require.Error(t, err)
}

func TestIsASCII(t *testing.T) {
	f := func(a, b string, want bool) {
		t.Helper()
		require.Equal(t, want, isASCII(a, b), "%q %q", a, b)
		if want {
			require.True(t, utf8.ValidString(a) && utf8.ValidString(b))
		}
	}
	f("", "", true)
	f("__name__", "up", true)
	f("0123456789abcdef", "0123456789abcdef0", true)
	f("\x7f", "", true)
	f("é", "", false)
	f("", "é", false)
	f("01234567\x80", "", false)
	f("", "0123456\x80", false)
	f("0123456789abcdef", "01234567ü", false)
}
