package distributor

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hearthmetrics/hearth/pkg/clientpool"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// grpcIngester is a test-only ingester server that remembers what it got.
type grpcIngester struct {
	ingesterpb.UnimplementedIngesterServer
	mu      sync.Mutex
	tenants []tenant.ID
	series  []ingesterpb.TimeSeries
	meta    []ingesterpb.MetricMetadata
}

func (g *grpcIngester) Push(ctx context.Context, req *ingesterpb.PushRequest) (*ingesterpb.PushResponse, error) {
	t, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	// The request aliases gRPC's buffer: copy what we keep.
	data, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	var cp ingesterpb.PushRequest
	if err := cp.Unmarshal(data); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tenants = append(g.tenants, t)
	g.series = append(g.series, cp.Timeseries...)
	g.meta = append(g.meta, cp.Metadata...)
	return &ingesterpb.PushResponse{}, nil
}

func (g *grpcIngester) AllTenantStats(context.Context, *ingesterpb.AllTenantStatsRequest) (*ingesterpb.AllTenantStatsResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return &ingesterpb.AllTenantStatsResponse{Tenants: []ingesterpb.TenantStatsEntry{
		{Tenant: "tenant-1", Stats: ingesterpb.TenantStats{NumSeries: uint64(len(g.series)), IngestionRate: 3, ApiIngestionRate: 3}},
	}}, nil
}

func (g *grpcIngester) TenantStats(ctx context.Context, _ *ingesterpb.TenantStatsRequest) (*ingesterpb.TenantStatsResponse, error) {
	t, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t != "tenant-1" {
		return &ingesterpb.TenantStatsResponse{}, nil
	}
	return &ingesterpb.TenantStatsResponse{Stats: ingesterpb.TenantStats{NumSeries: uint64(len(g.series)), IngestionRate: 3, ApiIngestionRate: 3}}, nil
}

func startGRPCIngester(t *testing.T) (*grpcIngester, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(gogocodec.ServerOption(), grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor))
	ing := &grpcIngester{}
	ingesterpb.RegisterIngesterServer(srv, ing)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return ing, lis.Addr().String()
}

// TestEndToEnd pushes with Prometheus's own remote-write client, RW1 and
// RW2, through the HTTP handler and real gRPC to three ingesters.
func TestEndToEnd(t *testing.T) {
	var addrs []string
	var ings []*grpcIngester
	for range 3 {
		ing, addr := startGRPCIngester(t)
		ings = append(ings, ing)
		addrs = append(addrs, addr)
	}
	reg := prometheus.NewPedanticRegistry()
	logger := slog.New(slog.DiscardHandler)
	cfg := defaultConfig()
	var pcfg clientpool.Config
	pcfg.RegisterFlagsWithPrefix("ingester-client", flag.NewFlagSet("", flag.PanicOnError))
	pool, err := clientpool.New(pcfg, clientpool.Options{Name: "distributor", MaxSendMsgSize: cfg.GRPCMaxSendMsgSize()}, logger, reg)
	require.NoError(t, err)
	require.NoError(t, pool.Service().StartAsync(t.Context()))
	d, err := New(Deps{
		Config: cfg, Ring: newFakeRing(addrs...), Clients: pool, Limits: limits.NewOverrides(defaultLimits()),
		Logger: logger, Registerer: reg,
	})
	require.NoError(t, err)
	require.NoError(t, d.Service().StartAsync(t.Context()))
	t.Cleanup(func() {
		d.Service().StopAsync()
		require.NoError(t, d.Service().AwaitTerminated(context.Background()))
		pool.Service().StopAsync()
		require.NoError(t, pool.Service().AwaitTerminated(context.Background()))
	})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/push", tenant.TrustHeader(d.PushHandler()))
	mux.Handle("/distributor/all_user_stats", d.AllTenantStatsHandler())
	mux.Handle("/api/v1/user_stats", tenant.TrustHeader(d.OwnStatsHandler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/api/v1/push")
	require.NoError(t, err)

	client := func(msg remoteapi.WriteMessageType) remote.WriteClient {
		c, err := remote.NewWriteClient("test", &remote.ClientConfig{
			URL: &config_util.URL{URL: u}, Timeout: model.Duration(10 * time.Second),
			HTTPClientConfig: config_util.DefaultHTTPClientConfig,
			Headers:          map[string]string{tenant.Header: "tenant-1"},
			WriteProtoMsg:    msg,
		})
		require.NoError(t, err)
		return c
	}
	now := time.Now().UnixMilli()

	rw1 := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{
			Labels:    []prompb.Label{{Name: "__name__", Value: "rw1_metric"}, {Name: "job", Value: "a"}},
			Samples:   []prompb.Sample{{Value: 1, Timestamp: now}},
			Exemplars: []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "t1"}}, Value: 1, Timestamp: now}},
		}},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "rw1_metric", Help: "RW1."}},
	}
	data, err := rw1.Marshal()
	require.NoError(t, err)
	_, err = client(remoteapi.WriteV1MessageType).Store(t.Context(), snappy.Encode(nil, data), 0)
	require.NoError(t, err)
	sentBytes := len(data)

	st := writev2.NewSymbolTable()
	rw2 := &writev2.Request{Timeseries: []writev2.TimeSeries{
		{
			LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize("rw2_metric"), st.Symbolize("job"), st.Symbolize("b")},
			Samples:    []writev2.Sample{{Value: 1, Timestamp: now}, {Value: 2, Timestamp: now + 1}},
			Exemplars:  []writev2.Exemplar{{LabelsRefs: []uint32{st.Symbolize("trace_id"), st.Symbolize("t2")}, Value: 2, Timestamp: now}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("RW2.")},
		},
		{
			LabelsRefs: []uint32{st.Symbolize("__name__"), st.Symbolize("rw2_histogram")},
			Histograms: []writev2.Histogram{{
				Count: &writev2.Histogram_CountInt{CountInt: 2}, Sum: 3, ZeroCount: &writev2.Histogram_ZeroCountInt{ZeroCountInt: 0},
				PositiveSpans: []writev2.BucketSpan{{Length: 1}}, PositiveDeltas: []int64{2}, Timestamp: now,
			}},
		},
	}}
	rw2.Symbols = st.Symbols()
	data, err = rw2.Marshal()
	require.NoError(t, err)
	stats, err := client(remoteapi.WriteV2MessageType).Store(t.Context(), snappy.Encode(nil, data), 0)
	require.NoError(t, err)
	sentBytes += len(data)
	require.True(t, stats.Confirmed)
	require.Equal(t, remote.WriteResponseStats{Samples: 2, Histograms: 1, Exemplars: 1, Confirmed: true}, stats)

	// An invalid RW2 series: 400, no retry, the valid one written.
	rw2.Timeseries[0].LabelsRefs = []uint32{st.Symbolize("job"), st.Symbolize("c")} // no metric name
	rw2.Symbols = st.Symbols()
	data, err = rw2.Marshal()
	require.NoError(t, err)
	stats, err = client(remoteapi.WriteV2MessageType).Store(t.Context(), snappy.Encode(nil, data), 0)
	require.ErrorContains(t, err, "400")
	sentBytes += len(data)
	// Usage: every body's decompressed bytes, the refused one's included.
	require.InDelta(t, float64(sentBytes), testutil.ToFloat64(d.metrics.receivedBytes.WithLabelValues("tenant-1")), 0)
	require.ErrorContains(t, err, "(err-hearth-missing-metric-name)")
	var recoverable remote.RecoverableError
	require.NotErrorAs(t, err, &recoverable)
	require.Equal(t, 1, stats.Histograms)

	// Stop waits for every push.
	d.Service().StopAsync()
	require.NoError(t, d.Service().AwaitTerminated(t.Context()))
	for _, ing := range ings {
		ing.mu.Lock()
		byName := map[string][]ingesterpb.TimeSeries{}
		for _, s := range ing.series {
			byName[s.Labels[0].Value] = append(byName[s.Labels[0].Value], s)
		}
		// Pushes of one ingester may arrive in any order.
		require.Len(t, byName["rw1_metric"], 1)
		require.Len(t, byName["rw2_metric"], 1)
		require.Len(t, byName["rw2_histogram"], 2)
		require.Len(t, byName["rw1_metric"][0].Exemplars, 1)
		require.Len(t, byName["rw2_metric"][0].Samples, 2)
		require.Len(t, byName["rw2_histogram"][0].Histograms, 1)
		require.Len(t, ing.meta, 2)
		for _, tn := range ing.tenants {
			require.Equal(t, tenant.ID("tenant-1"), tn)
		}
		ing.mu.Unlock()
	}

	// Tenant stats: series summed over the 3 ingesters, divided by RF 3.
	req := httptest.NewRequest(http.MethodGet, "/distributor/all_user_stats", nil)
	req.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, `[{"tenant":"tenant-1","series":4,"ingestion_rate":3,"api_ingestion_rate":3,"rule_ingestion_rate":0}]`, w.Body.String())
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/distributor/all_user_stats", nil))
	require.Contains(t, w.Body.String(), "<td>tenant-1</td>")

	// The tenant's own stats, in Cortex's JSON; another tenant sees its own.
	for id, want := range map[string]string{
		"tenant-1": `{"ingestionRate":3,"numSeries":4,"APIIngestionRate":3,"RuleIngestionRate":0}`,
		"tenant-2": `{"ingestionRate":0,"numSeries":0,"APIIngestionRate":0,"RuleIngestionRate":0}`,
	} {
		req = httptest.NewRequest(http.MethodGet, "/api/v1/user_stats", nil)
		req.Header.Set(tenant.Header, id)
		w = httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.JSONEq(t, want, w.Body.String())
	}

	// The pool dialled each ingester once and health checks pass.
	require.Len(t, pool.Addrs(), 3)
	pool.CheckNow(t.Context())
	require.Len(t, pool.Addrs(), 3)
}
