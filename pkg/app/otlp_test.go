package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelmetric "go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
)

// promoted are the resource attributes both receivers promote to labels.
var promoted = []string{"service.instance.id", "deployment.environment"}

// prometheusOTLP returns Prometheus's own OTLP receiver over a fresh TSDB
// with its default OTLP configuration (and the same promoted resource
// attributes as Hearth's tenant), and the TSDB.
func prometheusOTLP(t *testing.T) (http.Handler, *tsdb.DB) {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.EnableExemplarStorage, opts.MaxExemplars = true, 1000
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	otlpCfg := config.DefaultOTLPConfig
	otlpCfg.PromoteResourceAttributes = promoted
	cfg := config.Config{OTLPConfig: otlpCfg}
	h := remote.NewOTLPWriteHandler(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), db,
		func() config.Config { return cfg }, remote.OTLPOptions{})
	return h, db
}

// teeServer serves OTLP exports: each body goes to Prometheus's receiver
// (which must accept it) and then to Hearth's, whose answer it returns.
func teeServer(t *testing.T, prom http.Handler, hearthAddr, tenantID string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pr := httptest.NewRequest(http.MethodPost, "/api/v1/otlp/v1/metrics", bytes.NewReader(body))
		pr.Header = r.Header.Clone()
		rec := httptest.NewRecorder()
		prom.ServeHTTP(rec, pr)
		if rec.Code != http.StatusOK {
			http.Error(w, "Prometheus refused the export: "+rec.Body.String(), http.StatusBadRequest)
			return
		}
		hr, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+hearthAddr+"/otlp/v1/metrics", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hr.Header = r.Header.Clone()
		hr.Header.Set("X-Scope-OrgID", tenantID)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

// exportWithSDK records counters, up-down counters, gauges (NaN and ±Inf
// among them), explicit-bucket and exponential histograms with the
// OpenTelemetry Go SDK and exports them twice with its OTLP/HTTP exporter
// (gzip) to endpoint.
func exportWithSDK(t *testing.T, endpoint string) {
	t.Helper()
	ctx := t.Context()
	var exportErrs []error
	exp, err := otlpmetrichttp.New(ctx,
		otlpmetrichttp.WithEndpointURL(endpoint+"/otlp/v1/metrics"),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	res := resource.NewWithAttributes("",
		attribute.String("service.name", "checkout"),
		attribute.String("service.namespace", "shop"),
		attribute.String("service.instance.id", "pod-1"),
		attribute.String("deployment.environment", "prod"),
		attribute.String("host.name", "node-7"),
		// Collides with labels the translator sets itself.
		attribute.String("job", "resource-job"),
	)
	reader := metric.NewPeriodicReader(exp, metric.WithInterval(time.Hour))
	mp := metric.NewMeterProvider(
		metric.WithResource(res),
		metric.WithReader(reader),
		metric.WithExemplarFilter(exemplar.AlwaysOnFilter),
		metric.WithView(metric.NewView(metric.Instrument{Name: "rpc.payload.size"},
			metric.Stream{Aggregation: metric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})),
	)
	m := mp.Meter("github.com/hearthmetrics/hearth/test")
	requests, err := m.Int64Counter("http.server.requests", otelmetric.WithUnit("{request}"), otelmetric.WithDescription("Requests served."))
	require.NoError(t, err)
	inflight, err := m.Int64UpDownCounter("http.server.active_requests")
	require.NoError(t, err)
	temp, err := m.Float64Gauge("room.temperature", otelmetric.WithUnit("Cel"))
	require.NoError(t, err)
	latency, err := m.Float64Histogram("http.server.duration", otelmetric.WithUnit("s"),
		otelmetric.WithExplicitBucketBoundaries(0.005, 0.05, 0.5, 5))
	require.NoError(t, err)
	size, err := m.Int64Histogram("rpc.payload.size", otelmetric.WithUnit("By"))
	require.NoError(t, err)
	for round := range 2 {
		for i, route := range []string{"/", "/cart", "/pay"} {
			attrs := otelmetric.WithAttributes(attribute.String("http.route", route), attribute.Int("http.status_code", 200+i),
				// A data point attribute named like a reserved label.
				attribute.String("__name__", "not-the-name"))
			requests.Add(ctx, int64(10*(round+1)+i), attrs)
			inflight.Add(ctx, int64(i-1), attrs)
			for k := range 20 {
				latency.Record(ctx, float64(k*(i+1))*0.01, attrs)
				size.Record(ctx, int64(k*k*(i+1)+1), attrs)
			}
		}
		temp.Record(ctx, 21.5+float64(round), otelmetric.WithAttributes(attribute.String("room", "kitchen")))
		temp.Record(ctx, math.NaN(), otelmetric.WithAttributes(attribute.String("room", "nan")))
		temp.Record(ctx, math.Inf(1), otelmetric.WithAttributes(attribute.String("room", "hot")))
		temp.Record(ctx, math.Inf(-1), otelmetric.WithAttributes(attribute.String("room", "cold")))
		if err := mp.ForceFlush(ctx); err != nil {
			exportErrs = append(exportErrs, err)
		}
	}
	require.NoError(t, mp.Shutdown(ctx))
	require.Empty(t, exportErrs)
}

// matrixJSON returns m sorted by series, as the query API's JSON.
func matrixJSON(t *testing.T, m model.Matrix) string {
	t.Helper()
	sort.Slice(m, func(i, j int) bool { return m[i].Metric.String() < m[j].Metric.String() })
	b, err := json.MarshalIndent(m, "", " ")
	require.NoError(t, err)
	return string(b)
}

// TestOTLPIngestEqualsPrometheus exports the same metrics with the
// OpenTelemetry Go SDK's OTLP/HTTP exporter to Prometheus's own OTLP
// receiver (over a TSDB, in process) and to an all-in-one Hearth; every
// series, float sample, native histogram and exemplar read back through
// Hearth's query API must equal what Prometheus stored, as its PromQL
// engine returns it.
func TestOTLPIngestEqualsPrometheus(t *testing.T) {
	p := startProcess(t, TargetAll, "-distributor.promote-resource-attributes="+strings.Join(promoted, ","))
	prom, db := prometheusOTLP(t)
	tee := teeServer(t, prom, p.app.HTTPAddr(), "team-otel")
	start := time.Now().Add(-time.Minute)
	exportWithSDK(t, tee.URL)
	end := time.Now().Add(time.Minute)

	const all = `{__name__=~".+"}[5m]`
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute})
	q, err := engine.NewInstantQuery(t.Context(), db, nil, all, end)
	require.NoError(t, err)
	r := q.Exec(t.Context())
	require.NoError(t, r.Err)
	raw, err := json.Marshal(r.Value.(promql.Matrix))
	require.NoError(t, err)
	var want model.Matrix
	require.NoError(t, json.Unmarshal(raw, &want))
	require.NotEmpty(t, want)

	api := queryAPI(t, p.app.HTTPAddr(), "team-otel")
	v, _, _, err := api.Query(t.Context(), all, end)
	require.NoError(t, err)
	got := v.(model.Matrix)
	require.Equal(t, matrixJSON(t, want), matrixJSON(t, got))

	// What the test meant to cover is there.
	names := map[string]bool{}
	var hists, nans int
	for _, s := range got {
		names[string(s.Metric[model.MetricNameLabel])] = true
		hists += len(s.Histograms)
		for _, v := range s.Values {
			if math.IsNaN(float64(v.Value)) {
				nans++
			}
		}
	}
	for _, n := range []string{"http_server_requests_total", "http_server_active_requests", "room_temperature_celsius",
		"http_server_duration_seconds_bucket", "http_server_duration_seconds_sum", "rpc_payload_size_bytes", "target_info"} {
		require.True(t, names[n], "no %s in %v", n, names)
	}
	require.Positive(t, hists, "the exponential histogram is a native histogram")
	require.Positive(t, nans)

	// Exemplars, as Prometheus's exemplar storage has them.
	eq, err := db.ExemplarQuerier(t.Context())
	require.NoError(t, err)
	matcher := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	wantEx, err := eq.Select(start.UnixMilli(), end.UnixMilli(), []*labels.Matcher{matcher})
	require.NoError(t, err)
	gotEx, err := api.QueryExemplars(t.Context(), `{__name__=~".+"}`, start, end)
	require.NoError(t, err)
	count := func(series string, n int, m map[string]int) { m[series] += n }
	wantN, gotN := map[string]int{}, map[string]int{}
	for _, e := range wantEx {
		count(e.SeriesLabels.String(), len(e.Exemplars), wantN)
	}
	for _, e := range gotEx {
		ls := labels.FromMap(func() map[string]string {
			m := map[string]string{}
			for k, v := range e.SeriesLabels {
				m[string(k)] = string(v)
			}
			return m
		}())
		count(ls.String(), len(e.Exemplars), gotN)
	}
	require.NotEmpty(t, wantN)
	require.Equal(t, wantN, gotN)
	t.Logf("%d series, %d histograms, %d NaNs, exemplars of %d series", len(got), hists, nans, len(gotN))
}

// TestOTLPBadInputThroughTheAllInOne sends, in one export, a good gauge, a
// gauge whose attribute value is over -validation.max-length-label-value
// and a delta sum: the good gauge is written and readable, the answer is
// 200 with partial_success counting the other two's points and naming why,
// and each refusal is counted under its reason.
func TestOTLPBadInputThroughTheAllInOne(t *testing.T) {
	p := startProcess(t, TargetAll)
	now := time.Now()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	addGauge := func(name, attr string) {
		m := ms.AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetDoubleValue(1)
		dp.Attributes().PutStr("a", attr)
	}
	addGauge("good", "fine")
	addGauge("huge", strings.Repeat("x", 5000))
	delta := ms.AppendEmpty()
	delta.SetName("deltas")
	s := delta.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for range 2 {
		s.DataPoints().AppendEmpty().SetTimestamp(pcommon.NewTimestampFromTime(now))
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)

	r, err := http.NewRequest(http.MethodPost, "http://"+p.app.HTTPAddr()+"/api/v1/otlp/v1/metrics", bytes.NewReader(body))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("X-Scope-OrgID", "team-bad")
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	answer := pmetricotlp.NewExportResponse()
	require.NoError(t, answer.UnmarshalProto(raw))
	require.Equal(t, int64(3), answer.PartialSuccess().RejectedDataPoints())
	msg := answer.PartialSuccess().ErrorMessage()
	require.Contains(t, msg, `metric "deltas" has delta temporality`)
	require.Contains(t, msg, "(err-hearth-label-value-too-long)")

	v, _, _, err := queryAPI(t, p.app.HTTPAddr(), "team-bad").Query(t.Context(), `{__name__=~"good|huge|deltas"}`, now)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	require.Equal(t, model.LabelValue("good"), v.(model.Vector)[0].Metric[model.MetricNameLabel])
	require.NoError(t, testutil.GatherAndCompare(p.reg, strings.NewReader(`
# HELP hearth_discarded_samples_total Samples, histograms and exemplars refused, by reason: by validation in the distributor, or by a quorum of ingesters.
# TYPE hearth_discarded_samples_total counter
hearth_discarded_samples_total{reason="label_value_too_long",tenant="team-bad"} 1
hearth_discarded_samples_total{reason="otlp_delta_temporality",tenant="team-bad"} 2
`), "hearth_discarded_samples_total"))
}
