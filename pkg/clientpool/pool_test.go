package clientpool

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type server struct {
	ingesterpb.UnimplementedIngesterServer
	health *health.Server
	mu     sync.Mutex
	last   tenant.ID
	size   int
}

func (s *server) Push(ctx context.Context, req *ingesterpb.PushRequest) (*ingesterpb.PushResponse, error) {
	t, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	s.last, s.size = t, req.Size()
	s.mu.Unlock()
	return &ingesterpb.PushResponse{}, nil
}

func start(t *testing.T) (*server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(gogocodec.ServerOption(), grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor), grpc.MaxRecvMsgSize(64<<20))
	s := &server{health: health.NewServer()}
	ingesterpb.RegisterIngesterServer(srv, s)
	healthpb.RegisterHealthServer(srv, s.health)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

func newPool(t *testing.T, opts Options) (*Pool, *prometheus.Registry) {
	t.Helper()
	var cfg Config
	cfg.RegisterFlagsWithPrefix("ingester-client", flag.NewFlagSet("", flag.PanicOnError))
	cfg.HealthCheckPeriod = 0 // tests call CheckNow
	reg := prometheus.NewPedanticRegistry()
	p, err := New(cfg, opts, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	require.NoError(t, p.Service().StartAsync(context.Background()))
	t.Cleanup(func() {
		p.Service().StopAsync()
		require.NoError(t, p.Service().AwaitTerminated(context.Background()))
	})
	return p, reg
}

func TestPoolCarriesTenantAndLimits(t *testing.T) {
	s, addr := start(t)
	p, _ := newPool(t, Options{Name: "distributor", MaxSendMsgSize: 1 << 20})
	c, err := p.Get(addr)
	require.NoError(t, err)
	c2, err := p.Get(addr)
	require.NoError(t, err)
	require.Same(t, c, c2, "one client per address")

	ctx := tenant.WithID(t.Context(), "tenant-a")
	_, err = c.Push(ctx, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{{Labels: []ingesterpb.LabelPair{{Name: "a", Value: "b"}}}}})
	require.NoError(t, err)
	s.mu.Lock()
	require.Equal(t, tenant.ID("tenant-a"), s.last)
	s.mu.Unlock()

	big := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{{Labels: []ingesterpb.LabelPair{{Name: "a", Value: strings.Repeat("x", 2<<20)}}}}}
	_, err = c.Push(ctx, big)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "the send limit applies: %v", err)
}

func TestPoolRemovesUnhealthyAndDepartedClients(t *testing.T) {
	s1, addr1 := start(t)
	_, addr2 := start(t)
	var mu sync.Mutex
	listed := []string{addr1, addr2}
	p, reg := newPool(t, Options{Name: "querier", Addresses: AddressFunc(func() ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), listed...), nil
	})})
	for _, a := range []string{addr1, addr2} {
		_, err := p.Get(a)
		require.NoError(t, err)
	}
	p.CheckNow(t.Context())
	require.ElementsMatch(t, []string{addr1, addr2}, p.Addrs())

	s1.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	p.CheckNow(t.Context())
	require.Equal(t, []string{addr2}, p.Addrs())

	mu.Lock()
	listed = []string{addr1}
	mu.Unlock()
	p.CheckNow(t.Context())
	require.Empty(t, p.Addrs())

	require.Equal(t, 1.0, testutil.ToFloat64(p.removed.WithLabelValues("unhealthy")))
	require.Equal(t, 1.0, testutil.ToFloat64(p.removed.WithLabelValues("left_ring")))
	require.Equal(t, 0.0, testutil.ToFloat64(p.size))
	n, err := testutil.GatherAndCount(reg, "hearth_clientpool_health_checks_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestTwoPoolsShareARegistry(t *testing.T) {
	var cfg Config
	cfg.RegisterFlagsWithPrefix("x", flag.NewFlagSet("", flag.PanicOnError))
	reg := prometheus.NewPedanticRegistry()
	_, err := New(cfg, Options{Name: "distributor"}, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	_, err = New(cfg, Options{Name: "querier"}, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Config)
		wantErr []string
	}{
		"defaults are valid": {mutate: func(*Config) {}},
		"every problem is reported": {
			mutate:  func(c *Config) { c.HealthCheckPeriod, c.KeepaliveTime = -1, 0 },
			wantErr: []string{"health-check-period", "keepalive-time"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c Config
			c.RegisterFlagsWithPrefix("p", flag.NewFlagSet("", flag.PanicOnError))
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.wantErr {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
