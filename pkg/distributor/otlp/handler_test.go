package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// fakePusher keeps copies of what it is pushed and answers err.
type fakePusher struct {
	mu        sync.Mutex
	series    []string // labels and sample count, one line per series
	metadata  []string
	discarded map[string]int
	// err is returned by Push; with reject, Push writes nothing.
	err    error
	reject bool
	// ascii has each push's ASCIILabels; notASCII the first label of a
	// push so flagged that is not ASCII.
	ascii    []bool
	notASCII string
	// badLocal describes the first series whose labels.Labels
	// (Request.SeriesLabels) are missing or are not its pairs.
	badLocal string
}

func (f *fakePusher) Push(_ context.Context, req *remotewrite.Request) (remotewrite.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st remotewrite.Stats
	f.ascii = append(f.ascii, req.ASCIILabels)
	if len(req.SeriesLabels) != len(req.Push.Timeseries) && f.badLocal == "" {
		f.badLocal = fmt.Sprintf("%d series labels for %d series", len(req.SeriesLabels), len(req.Push.Timeseries))
	}
	for i, ts := range req.Push.Timeseries {
		if i < len(req.SeriesLabels) && f.badLocal == "" {
			if ls := req.SeriesLabels[i].For(&ts); !labels.Equal(ls, ingesterpb.ToLabels(ts.Labels)) {
				f.badLocal = fmt.Sprintf("series %d: labels %s, pairs %v", i, ls, ts.Labels)
			}
		}
		var b strings.Builder
		for _, l := range ts.Labels {
			fmt.Fprintf(&b, "%s=%q ", l.Name, l.Value)
			if req.ASCIILabels && f.notASCII == "" && highBits(l.Name+l.Value)&highMask != 0 {
				f.notASCII = fmt.Sprintf("%s=%q", l.Name, l.Value)
			}
		}
		fmt.Fprintf(&b, "floats=%d histograms=%d exemplars=%d", len(ts.Samples), len(ts.Histograms), len(ts.Exemplars))
		f.series = append(f.series, b.String())
		st.Samples += len(ts.Samples)
		st.Histograms += len(ts.Histograms)
		st.Exemplars += len(ts.Exemplars)
	}
	for _, m := range req.Push.Metadata {
		f.metadata = append(f.metadata, m.MetricFamilyName+" "+m.Type.String()+" "+m.Unit+" "+m.Help)
	}
	if f.reject {
		st = remotewrite.Stats{}
	}
	return st, f.err
}

func (f *fakePusher) CountDiscarded(_ tenant.ID, reason string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.discarded == nil {
		f.discarded = map[string]int{}
	}
	f.discarded[reason] += n
}

func testLimits(t testing.TB, mutate func(*limits.Limits)) *limits.Overrides {
	t.Helper()
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	if mutate != nil {
		mutate(&l)
	}
	require.NoError(t, l.Validate())
	return limits.NewOverrides(l)
}

func newTestHandler(t testing.TB, p *fakePusher, mutate func(*limits.Limits)) *Handler {
	t.Helper()
	return NewHandler(Deps{
		Pusher: p, Pool: remotewrite.NewPool(1 << 20), Limits: testLimits(t, mutate),
		MaxSize: 1 << 20, DecodeLimits: ingesterpb.DecodeLimits{MaxSeries: 1000, MaxLabels: 10000},
		Logger: slog.New(slog.DiscardHandler),
	})
}

var testNow = time.Now()

// metrics builds an export: one resource, one scope, the given metrics.
func metrics(build ...func(pmetric.MetricSlice)) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	rm.Resource().Attributes().PutStr("service.instance.id", "i-1")
	rm.Resource().Attributes().PutStr("host.name", "node-7")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	for _, b := range build {
		b(ms)
	}
	return md
}

func gauge(name string, v float64, attrs ...string) func(pmetric.MetricSlice) {
	return func(ms pmetric.MetricSlice) {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription("a gauge")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
		for i := 0; i+1 < len(attrs); i += 2 {
			dp.Attributes().PutStr(attrs[i], attrs[i+1])
		}
	}
}

func sum(name string, temporality pmetric.AggregationTemporality, points int) func(pmetric.MetricSlice) {
	return func(ms pmetric.MetricSlice) {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(temporality)
		for i := range points {
			dp := s.DataPoints().AppendEmpty()
			dp.SetIntValue(int64(i))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
			dp.Attributes().PutInt("i", int64(i))
		}
	}
}

func expHistogram(name string) func(pmetric.MetricSlice) {
	return func(ms pmetric.MetricSlice) {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit("s")
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
		dp.SetScale(2)
		dp.SetCount(6)
		dp.SetSum(10)
		dp.SetZeroCount(1)
		dp.Positive().SetOffset(1)
		dp.Positive().BucketCounts().FromRaw([]uint64{2, 3})
	}
}

func encode(t testing.TB, md pmetric.Metrics, enc Encoding) []byte {
	t.Helper()
	req := pmetricotlp.NewExportRequestFromMetrics(md)
	var b []byte
	var err error
	if enc == JSON {
		b, err = req.MarshalJSON()
	} else {
		b, err = req.MarshalProto()
	}
	require.NoError(t, err)
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

type sent struct {
	body        []byte
	contentType string
	encoding    string
	noTenant    bool
}

func serve(h http.Handler, s sent) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/otlp/v1/metrics", bytes.NewReader(s.body))
	r.Header.Set("Content-Type", s.contentType)
	if s.encoding != "" {
		r.Header.Set("Content-Encoding", s.encoding)
	}
	if !s.noTenant {
		r = r.WithContext(tenant.WithID(r.Context(), "team-a"))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// answer decodes a response: the partial success of a 200, or the status
// of an error.
type answer struct {
	code     int
	rejected int64
	message  string
	grpc     codes.Code
}

func decodeAnswer(t *testing.T, w *httptest.ResponseRecorder, enc Encoding) answer {
	t.Helper()
	a := answer{code: w.Code}
	require.Equal(t, enc.ContentType(), w.Header().Get("Content-Type"))
	if w.Code == http.StatusOK {
		resp := pmetricotlp.NewExportResponse()
		if enc == JSON {
			require.NoError(t, resp.UnmarshalJSON(w.Body.Bytes()))
		} else {
			require.NoError(t, resp.UnmarshalProto(w.Body.Bytes()))
		}
		a.rejected, a.message = resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage()
		return a
	}
	var st status.Status
	if enc == JSON {
		require.NoError(t, protojson.Unmarshal(w.Body.Bytes(), &st))
	} else {
		require.NoError(t, proto.Unmarshal(w.Body.Bytes(), &st))
	}
	a.grpc, a.message = codes.Code(st.Code), st.Message
	return a
}

func TestHandler(t *testing.T) {
	good := metrics(gauge("temp", 21, "room", "kitchen"), sum("requests", pmetric.AggregationTemporalityCumulative, 2), expHistogram("latency"))
	mixed := metrics(gauge("temp", 21), sum("deltas", pmetric.AggregationTemporalityDelta, 3))
	tests := map[string]struct {
		send       func(t *testing.T) sent
		enc        Encoding
		pushErr    error
		reject     bool
		limits     func(*limits.Limits)
		want       answer
		wantSeries int
		// wantMessage are substrings of the answer's message.
		wantMessage []string
		wantDiscard map[string]int
	}{
		"protobuf": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf}
			},
			want: answer{code: 200}, wantSeries: 5, // temp, requests×2, latency, target_info
		},
		"JSON, gzip": {
			send: func(t *testing.T) sent {
				return sent{body: gzipped(t, encode(t, good, JSON)), contentType: "application/json; charset=utf-8", encoding: "gzip"}
			},
			enc: JSON, want: answer{code: 200}, wantSeries: 5,
		},
		"an empty export is fine": {
			send: func(t *testing.T) sent { return sent{body: nil, contentType: ContentTypeProtobuf} },
			want: answer{code: 200},
		},
		"malformed protobuf": {
			send: func(*testing.T) sent { return sent{body: []byte{0x0a, 0xff, 0x01}, contentType: ContentTypeProtobuf} },
			want: answer{code: 400, grpc: codes.InvalidArgument}, wantMessage: []string{"malformed request: OTLP protobuf body"},
		},
		"malformed JSON answers in JSON": {
			send: func(*testing.T) sent {
				return sent{body: []byte(`{"resourceMetrics": [`), contentType: ContentTypeJSON}
			},
			enc: JSON, want: answer{code: 400, grpc: codes.InvalidArgument}, wantMessage: []string{"OTLP JSON body"},
		},
		"malformed gzip": {
			send: func(*testing.T) sent {
				return sent{body: []byte("not gzip"), contentType: ContentTypeProtobuf, encoding: "gzip"}
			},
			want: answer{code: 400, grpc: codes.InvalidArgument}, wantMessage: []string{"gzip"},
		},
		"unknown content type": {
			send: func(*testing.T) sent { return sent{body: []byte("x"), contentType: "text/plain"} },
			want: answer{code: 415, grpc: codes.Unimplemented}, wantMessage: []string{`"text/plain"`},
		},
		"unknown content encoding": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf, encoding: "br"}
			},
			want: answer{code: 415, grpc: codes.Unimplemented}, wantMessage: []string{`"br"`},
		},
		"body over the limit": {
			send: func(*testing.T) sent { return sent{body: make([]byte, 1<<20+1), contentType: ContentTypeProtobuf} },
			want: answer{code: 413, grpc: codes.InvalidArgument}, wantMessage: []string{"-distributor.max-recv-msg-size"},
		},
		"gzip bomb: decompressed body over the limit": {
			send: func(t *testing.T) sent {
				return sent{body: gzipped(t, make([]byte, 4<<20)), contentType: ContentTypeProtobuf, encoding: "gzip"}
			},
			want: answer{code: 413, grpc: codes.InvalidArgument}, wantMessage: []string{"decompressed body over 1048576 bytes"},
		},
		"translation over the series limit, refused before it is built": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, metrics(sum("many", pmetric.AggregationTemporalityCumulative, 1001)), Protobuf), contentType: ContentTypeProtobuf}
			},
			want: answer{code: 413, grpc: codes.InvalidArgument}, wantMessage: []string{"about 1002 series, limit 1000 (-distributor.max-series-per-request)"},
		},
		"huge attribute values: translation over the byte limit": {
			send: func(t *testing.T) sent {
				// 60 kB on the wire, 23 series of 60 kB translated.
				md := metrics()
				m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
				m.SetName("h")
				h := m.SetEmptyHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
				for i := range 20 {
					dp.ExplicitBounds().Append(float64(i))
					dp.BucketCounts().Append(1)
				}
				dp.BucketCounts().Append(1)
				dp.SetCount(21)
				dp.Attributes().PutStr("big", strings.Repeat("x", 60_000))
				return sent{body: gzipped(t, encode(t, md, Protobuf)), contentType: ContentTypeProtobuf, encoding: "gzip"}
			},
			want: answer{code: 413, grpc: codes.InvalidArgument}, wantMessage: []string{"bytes of labels, limit 1048576"},
		},
		"delta alone: 400 naming the metric and the option": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, metrics(sum("deltas", pmetric.AggregationTemporalityDelta, 3)), Protobuf), contentType: ContentTypeProtobuf}
			},
			want:        answer{code: 400, grpc: codes.InvalidArgument},
			wantMessage: []string{`metric "deltas" has delta temporality`, "otel_allow_delta_temporality", "3 points"},
			wantDiscard: map[string]int{ReasonDeltaTemporality: 3},
		},
		"delta among cumulative: partial success": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, mixed, Protobuf), contentType: ContentTypeProtobuf}
			},
			want: answer{code: 200, rejected: 3}, wantSeries: 2, wantMessage: []string{"delta temporality"},
			wantDiscard: map[string]int{ReasonDeltaTemporality: 3},
		},
		"delta accepted as-is when the tenant allows it": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, mixed, Protobuf), contentType: ContentTypeProtobuf}
			},
			limits: func(l *limits.Limits) { l.OTelAllowDeltaTemporality = true },
			want:   answer{code: 200}, wantSeries: 5,
		},
		"unset temporality": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, metrics(gauge("ok", 1), sum("unset", pmetric.AggregationTemporalityUnspecified, 1)), Protobuf), contentType: ContentTypeProtobuf}
			},
			want: answer{code: 200, rejected: 1}, wantSeries: 2, wantDiscard: map[string]int{ReasonInvalidTemporality: 1},
		},
		"unknown metric type": {
			send: func(t *testing.T) sent {
				md := metrics(gauge("ok", 1))
				md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty().SetName("typeless")
				return sent{body: encode(t, md, Protobuf), contentType: ContentTypeProtobuf}
			},
			want: answer{code: 200, rejected: 1}, wantSeries: 2, wantMessage: []string{`"typeless" has no known type`},
			wantDiscard: map[string]int{ReasonUnknownMetricType: 1},
		},
		"attribute that translates to no label name": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, metrics(gauge("ok", 1), gauge("bad", 1, "___", "v")), Protobuf), contentType: ContentTypeProtobuf}
			},
			want: answer{code: 200, rejected: 1}, wantSeries: 2, wantMessage: []string{`label name "___"`},
			wantDiscard: map[string]int{ReasonTranslation: 1},
		},
		"validation refused some: partial success": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf}
			},
			pushErr: fmt.Errorf("%w: label value too long", remotewrite.ErrInvalid),
			want:    answer{code: 200}, wantSeries: 5, // exemplars or metadata: no point refused, nothing to report
		},
		"validation refused all: 400": {
			send:    func(t *testing.T) sent { return sent{body: encode(t, good, JSON), contentType: ContentTypeJSON} },
			enc:     JSON,
			pushErr: fmt.Errorf("%w: label value too long", remotewrite.ErrInvalid), reject: true,
			want: answer{code: 400, grpc: codes.InvalidArgument}, wantSeries: 5, wantMessage: []string{"nothing written", "label value too long"},
		},
		"rate limited: 429": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf}
			},
			pushErr: fmt.Errorf("%w: tenant over 10 samples/s", remotewrite.ErrRateLimited), reject: true,
			want: answer{code: 429, grpc: codes.ResourceExhausted}, wantSeries: 5,
		},
		"no quorum: 503": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf}
			},
			pushErr: fmt.Errorf("%w: 1 of 3 ingesters", remotewrite.ErrUnavailable), reject: true,
			want: answer{code: 503, grpc: codes.Unavailable}, wantSeries: 5,
		},
		"an unclassified failure is retryable: 503, not 500": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf}
			},
			pushErr: errors.New("boom"), reject: true,
			want: answer{code: 503, grpc: codes.Unavailable}, wantSeries: 5,
		},
		"HA replica deduplicated: acknowledged": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf}
			},
			pushErr: remotewrite.ErrDeduplicated, reject: true,
			want: answer{code: 200}, wantSeries: 5,
		},
		"no tenant: 401": {
			send: func(t *testing.T) sent {
				return sent{body: encode(t, good, Protobuf), contentType: ContentTypeProtobuf, noTenant: true}
			},
			want: answer{code: 401, grpc: codes.Unauthenticated},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := &fakePusher{err: tc.pushErr, reject: tc.reject}
			w := serve(newTestHandler(t, p, tc.limits), tc.send(t))
			got := decodeAnswer(t, w, tc.enc)
			for _, m := range tc.wantMessage {
				require.Contains(t, got.message, m)
			}
			got.message = ""
			if tc.want.code == 200 && tc.pushErr != nil && tc.want.rejected == 0 && !errors.Is(tc.pushErr, remotewrite.ErrDeduplicated) {
				tc.want.rejected = got.rejected // counted by the pusher's stats; see the next test
			}
			require.Equal(t, tc.want, got)
			require.Len(t, p.series, tc.wantSeries, "%s", strings.Join(p.series, "\n"))
			if tc.wantDiscard != nil {
				require.Equal(t, tc.wantDiscard, p.discarded)
			}
		})
	}
}

// The converter's output, as the distributor receives it: names with
// suffixes, target_info, the exponential histogram as a native histogram,
// metadata once per family.
func TestTranslation(t *testing.T) {
	tests := map[string]struct {
		limits       func(*limits.Limits)
		wantSeries   []string
		wantMetadata []string
	}{
		"Prometheus's default strategy": {
			wantSeries: []string{
				`__name__="temp" instance="i-1" job="svc" room="kitchen" floats=1 histograms=0 exemplars=0`,
				`__name__="requests_total" i="0" instance="i-1" job="svc" floats=1 histograms=0 exemplars=0`,
				`__name__="requests_total" i="1" instance="i-1" job="svc" floats=1 histograms=0 exemplars=0`,
				`__name__="latency_seconds" instance="i-1" job="svc" floats=0 histograms=1 exemplars=0`,
				`__name__="target_info" host_name="node-7" instance="i-1" job="svc" floats=1 histograms=0 exemplars=0`,
			},
			wantMetadata: []string{"temp METRIC_TYPE_GAUGE  a gauge", "requests_total METRIC_TYPE_COUNTER  ", "latency_seconds METRIC_TYPE_HISTOGRAM seconds ", "target_info METRIC_TYPE_GAUGE  Target metadata"},
		},
		"no suffixes, UTF-8, promoted attribute, no target_info": {
			limits: func(l *limits.Limits) {
				l.OTelMetricSuffixesEnabled = false
				l.OTelTranslationStrategy = limits.OTelUTF8
				l.PromoteResourceAttributes = limits.StringList{"service.instance.id"}
				l.OTelDisableTargetInfo = true
			},
			wantSeries: []string{
				`__name__="temp" instance="i-1" job="svc" room="kitchen" service.instance.id="i-1" floats=1 histograms=0 exemplars=0`,
				`__name__="requests" i="0" instance="i-1" job="svc" service.instance.id="i-1" floats=1 histograms=0 exemplars=0`,
				`__name__="requests" i="1" instance="i-1" job="svc" service.instance.id="i-1" floats=1 histograms=0 exemplars=0`,
				`__name__="latency" instance="i-1" job="svc" service.instance.id="i-1" floats=0 histograms=1 exemplars=0`,
			},
			wantMetadata: []string{"temp METRIC_TYPE_GAUGE  a gauge", "requests METRIC_TYPE_COUNTER  ", "latency METRIC_TYPE_HISTOGRAM seconds "},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := &fakePusher{}
			md := metrics(gauge("temp", 21, "room", "kitchen"), sum("requests", pmetric.AggregationTemporalityCumulative, 2), expHistogram("latency"))
			w := serve(newTestHandler(t, p, tc.limits), sent{body: encode(t, md, Protobuf), contentType: ContentTypeProtobuf})
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, tc.wantSeries, p.series)
			require.Equal(t, tc.wantMetadata, p.metadata)
			require.Empty(t, p.badLocal)
		})
	}
}

// A request whose push refused some samples says how many in
// partial_success.
func TestPartialSuccessCountsRefusedSamples(t *testing.T) {
	p := &partialPusher{}
	h := NewHandler(Deps{
		Pusher: p, Pool: remotewrite.NewPool(1 << 20), Limits: testLimits(t, nil), MaxSize: 1 << 20,
		Logger: slog.New(slog.DiscardHandler),
	})
	md := metrics(gauge("a", 1), gauge("b", 2), gauge("c", 3))
	got := decodeAnswer(t, serve(h, sent{body: encode(t, md, Protobuf), contentType: ContentTypeProtobuf}), Protobuf)
	require.Equal(t, http.StatusOK, got.code)
	require.Equal(t, int64(2), got.rejected, "4 samples (3 gauges and target_info), 2 written")
	require.Contains(t, got.message, "series \"b\" refused")
}

type partialPusher struct{ fakePusher }

func (p *partialPusher) Push(context.Context, *remotewrite.Request) (remotewrite.Stats, error) {
	return remotewrite.Stats{Samples: 2}, fmt.Errorf("%w: series \"b\" refused", remotewrite.ErrInvalid)
}

// A 429 or 503 error that knows when to retry says so in Retry-After.
func TestRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, Protobuf, retryErr{remotewrite.ErrRateLimited, 1500 * time.Millisecond})
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, "2", w.Header().Get("Retry-After"))
}

type retryErr struct {
	class error
	after time.Duration
}

func (e retryErr) Error() string             { return "retry" }
func (e retryErr) Unwrap() error             { return e.class }
func (e retryErr) RetryAfter() time.Duration { return e.after }

// TestGzipReaderReuse: the pooled gzip readers carry nothing from one
// request to the next, whatever the previous one left them with (a
// malformed or truncated stream, a bomb cut off at the limit), with
// requests in parallel.
func TestGzipReaderReuse(t *testing.T) {
	p := &fakePusher{}
	h := newTestHandler(t, p, nil)
	good := gzipped(t, encode(t, metrics(gauge("temp", 21, "room", "kitchen")), Protobuf))
	bodies := []struct {
		body []byte
		want int
	}{
		{good, http.StatusOK},
		{[]byte("not gzip"), http.StatusBadRequest},
		{good, http.StatusOK},
		{gzipped(t, make([]byte, 4<<20)), http.StatusRequestEntityTooLarge},
		{good, http.StatusOK},
		{good[:len(good)/2], http.StatusBadRequest},
		{good, http.StatusOK},
		{append(bytes.Clone(good), "trailing garbage"...), http.StatusBadRequest},
		{good, http.StatusOK},
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, b := range bodies {
				w := serve(h, sent{body: b.body, contentType: ContentTypeProtobuf, encoding: "gzip"})
				if w.Code != b.want {
					t.Errorf("HTTP %d, want %d: %s", w.Code, b.want, w.Body)
				}
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Len(t, p.series, 4*5*2, "temp and target_info, from each good request")
	for _, s := range p.series[:2] {
		require.Contains(t, []string{
			`__name__="temp" instance="i-1" job="svc" room="kitchen" floats=1 histograms=0 exemplars=0`,
			`__name__="target_info" host_name="node-7" instance="i-1" job="svc" floats=1 histograms=0 exemplars=0`,
		}, s)
	}
}
