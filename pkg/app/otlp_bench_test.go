package app

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// OTLP ingest benchmark shape: each sender is one resource (an SDK
// instance) exporting every round the same metrics, 40% cumulative sums,
// 40% gauges, 10% explicit-bucket histograms (10 bounds) and 10%
// exponential histograms, each with pointsPerMetric data points of 4
// attributes.
const (
	otlpSenders         = 4
	otlpMetrics         = 50
	otlpPointsPerMetric = 20
	otlpPointsPerExport = otlpMetrics * otlpPointsPerMetric
)

// BenchmarkOTLPIngest measures the CPU an OTLP/HTTP receiver spends per
// million data points: Hearth's all-in-one (/otlp/v1/metrics, distributor
// and ingester in this process) against Prometheus's own OTLP receiver
// (remote.NewOTLPWriteHandler, what --web.enable-otlp-receiver serves)
// over a TSDB, both behind a real HTTP server on loopback, fed the same
// pre-encoded protobuf exports by 4 concurrent senders. CPU is this
// process's user+system time across the pushes (getrusage), the senders'
// share included for both.
//
// system=hearth and system=prometheus run one after the other, each alone
// in the process. system=interleaved runs both side by side and sends
// them the exports in alternating rounds of otlpRoundExports per sender
// (which system goes first alternates too), charging each round's CPU to
// the system it fed: on a shared machine whose load swings between
// seconds, both systems see the same load, and its ratio metric is the
// one to compare.
//
//	go test -run '^$' -bench BenchmarkOTLPIngest -benchtime=400x -count=3 ./pkg/app/
//	go test -run '^$' -bench 'BenchmarkOTLPIngest/system=interleaved' -benchtime=1600x -count=3 ./pkg/app/
func BenchmarkOTLPIngest(b *testing.B) {
	b.Run("system=hearth", func(b *testing.B) {
		benchOTLP(b, startHearthOTLP(b))
	})
	b.Run("system=prometheus", func(b *testing.B) {
		benchOTLP(b, startPrometheusOTLP(b))
	})
	b.Run("system=interleaved", func(b *testing.B) {
		benchOTLPInterleaved(b, [2]string{startHearthOTLP(b), startPrometheusOTLP(b)})
	})
}

// otlpRoundExports is how many exports each sender sends one system in a
// round of system=interleaved.
const otlpRoundExports = 10

// startHearthOTLP starts the all-in-one and returns its OTLP URL.
func startHearthOTLP(b *testing.B) string {
	a := startBenchApp(b)
	return "http://" + a.HTTPAddr() + "/otlp/v1/metrics"
}

// startPrometheusOTLP starts Prometheus's OTLP receiver over a TSDB with
// default options and returns its URL.
func startPrometheusOTLP(b *testing.B) string {
	db, err := tsdb.Open(b.TempDir(), slog.New(slog.DiscardHandler), nil, tsdb.DefaultOptions(), nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	cfg := config.Config{OTLPConfig: config.DefaultOTLPConfig}
	h := remote.NewOTLPWriteHandler(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), db,
		func() config.Config { return cfg }, remote.OTLPOptions{})
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv.URL + "/api/v1/otlp/v1/metrics"
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// otlpExports encodes each sender's n exports, one second apart.
func otlpExports(b *testing.B, n int) [][][]byte {
	start := time.Now().Add(-time.Hour)
	bodies := make([][][]byte, otlpSenders)
	for s := range otlpSenders {
		for r := range n {
			bodies[s] = append(bodies[s], encodeOTLPExport(b, s, start.Add(time.Duration(r)*time.Second)))
		}
	}
	return bodies
}

// sendOTLP sends each sender's exports [from, to) to url, the senders
// concurrently, and fails b on an error or a status other than 200.
func sendOTLP(b *testing.B, client *http.Client, url string, bodies [][][]byte, from, to int) {
	var wg sync.WaitGroup
	errs := make(chan error, otlpSenders)
	for s := range otlpSenders {
		wg.Go(func() {
			for _, body := range bodies[s][from:min(to, len(bodies[s]))] {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				req.Header.Set("X-Scope-OrgID", "bench")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("export: HTTP %d: %s", resp.StatusCode, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
}

func benchOTLP(b *testing.B, url string) {
	perSender := (b.N + otlpSenders - 1) / otlpSenders
	bodies := otlpExports(b, perSender)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: otlpSenders}}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	began, cpuBegan := time.Now(), cpuTime()
	sendOTLP(b, client, url, bodies, 0, perSender)
	elapsed, cpu := time.Since(began), cpuTime()-cpuBegan
	b.StopTimer()
	points := float64(otlpSenders * perSender * otlpPointsPerExport)
	b.ReportMetric(points/elapsed.Seconds(), "points/s")
	b.ReportMetric(cpu.Seconds()/points*1e6, "cpu-s/Mpoints")
}

// benchOTLPInterleaved feeds Hearth (urls[0]) and Prometheus (urls[1])
// the same exports in alternating rounds; b.N counts the exports of each.
func benchOTLPInterleaved(b *testing.B, urls [2]string) {
	perSender := (b.N + otlpSenders - 1) / otlpSenders
	bodies := otlpExports(b, perSender)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * otlpSenders}}
	runtime.GC()
	b.ResetTimer()
	var cpu [2]time.Duration
	for r, from := 0, 0; from < perSender; r, from = r+1, from+otlpRoundExports {
		for k := range 2 {
			sys := (r + k) % 2
			began := cpuTime()
			sendOTLP(b, client, urls[sys], bodies, from, from+otlpRoundExports)
			cpu[sys] += cpuTime() - began
		}
	}
	b.StopTimer()
	points := float64(otlpSenders * perSender * otlpPointsPerExport)
	b.ReportMetric(cpu[0].Seconds()/points*1e6, "hearth-cpu-s/Mpoints")
	b.ReportMetric(cpu[1].Seconds()/points*1e6, "prometheus-cpu-s/Mpoints")
	b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "hearth/prometheus")
}

// encodeOTLPExport returns sender s's export at t as protobuf.
func encodeOTLPExport(b *testing.B, s int, t time.Time) []byte {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "checkout")
	res.PutStr("service.namespace", "shop")
	res.PutStr("service.instance.id", fmt.Sprintf("pod-%d", s))
	res.PutStr("host.name", fmt.Sprintf("node-%d", s))
	res.PutStr("cloud.region", "eu-west-1")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("bench")
	ts := pcommon.NewTimestampFromTime(t)
	startTs := pcommon.NewTimestampFromTime(t.Add(-time.Hour))
	attrs := func(m pcommon.Map, i int) {
		m.PutStr("http.route", fmt.Sprintf("/api/v1/items/%d", i))
		m.PutStr("http.method", "GET")
		m.PutInt("http.status_code", 200)
		m.PutStr("net.host.name", "checkout.shop.svc")
	}
	for k := range otlpMetrics {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("bench.metric.%d", k))
		m.SetDescription("A benchmark metric.")
		switch k % 10 {
		case 0, 1, 2, 3:
			m.SetUnit("{request}")
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range otlpPointsPerMetric {
				dp := sum.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(startTs)
				dp.SetTimestamp(ts)
				dp.SetIntValue(t.Unix() + int64(i))
				attrs(dp.Attributes(), i)
			}
		case 4, 5, 6, 7:
			m.SetUnit("By")
			g := m.SetEmptyGauge()
			for i := range otlpPointsPerMetric {
				dp := g.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(float64(i) * 1.5)
				attrs(dp.Attributes(), i)
			}
		case 8:
			m.SetUnit("s")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range otlpPointsPerMetric {
				dp := h.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(startTs)
				dp.SetTimestamp(ts)
				dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, uint64(t.Unix() % 100)})
				dp.SetCount(55 + uint64(t.Unix()%100))
				dp.SetSum(123.4)
				attrs(dp.Attributes(), i)
			}
		case 9:
			m.SetUnit("s")
			h := m.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range otlpPointsPerMetric {
				dp := h.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(startTs)
				dp.SetTimestamp(ts)
				dp.SetScale(3)
				dp.SetZeroCount(1)
				dp.Positive().SetOffset(-5)
				dp.Positive().BucketCounts().FromRaw([]uint64{1, 0, 2, 3, 5, 8, 13, 21, 34, uint64(t.Unix() % 50)})
				dp.SetCount(1 + 87 + uint64(t.Unix()%50))
				dp.SetSum(99.5)
				attrs(dp.Attributes(), i)
			}
		}
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(b, err)
	return body
}
