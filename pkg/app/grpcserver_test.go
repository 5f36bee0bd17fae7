package app

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/proto/frontendpb"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// serveGRPC serves srv on 127.0.0.1 and returns a client connection.
func serveGRPC(t *testing.T, srv *grpc.Server, maxMsg int) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), gogocodec.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMsg), grpc.MaxCallRecvMsgSize(maxMsg)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cc.Close()) })
	return cc
}

type panickingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (panickingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("a handler bug")
}

func (panickingHealth) Watch(*healthpb.HealthCheckRequest, healthpb.Health_WatchServer) error {
	panic("stream handler bug")
}

// TestGRPCPanicIsAnError: a panicking handler (unary or stream) answers
// Internal, is counted and logged, and the server keeps serving (before,
// the process died).
func TestGRPCPanicIsAnError(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	var logs strings.Builder
	srv := newGRPCServer(slog.New(slog.NewTextHandler(&logs, nil)), reg, 1<<20, nil)
	healthpb.RegisterHealthServer(srv, panickingHealth{})
	client := healthpb.NewHealthClient(serveGRPC(t, srv, 1<<20))

	for i := range 2 {
		_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.Equal(t, codes.Internal, status.Code(err), "call %d: %v", i, err)
	}
	ws, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = ws.Recv()
	require.Equal(t, codes.Internal, status.Code(err), "%v", err)
	require.Equal(t, 3.0, counterSum(t, reg, "hearth_grpc_panics_total"))
	require.Contains(t, logs.String(), "method=/grpc.health.v1.Health/Watch")
	require.Contains(t, logs.String(), "stream handler bug")
}

type recordingIngester struct {
	ingesterpb.UnimplementedIngesterServer
	calls chan string
}

func (r *recordingIngester) Push(context.Context, *ingesterpb.PushRequest) (*ingesterpb.PushResponse, error) {
	r.calls <- "Push"
	return &ingesterpb.PushResponse{}, nil
}

func (r *recordingIngester) LabelNames(context.Context, *ingesterpb.LabelNamesRequest) (*ingesterpb.LabelNamesResponse, error) {
	r.calls <- "LabelNames"
	return &ingesterpb.LabelNamesResponse{}, nil
}

// TestGRPCReceiveLimitsPerMethod: Push takes messages up to the process's
// limit; a query request is refused past its own, smaller limit, before
// it is decoded or reaches the handler.
func TestGRPCReceiveLimitsPerMethod(t *testing.T) {
	const maxMsg = 16 << 20
	srv := newGRPCServer(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), maxMsg, nil)
	ing := &recordingIngester{calls: make(chan string, 10)}
	ingesterpb.RegisterIngesterServer(srv, ing)
	client := ingesterpb.NewIngesterClient(serveGRPC(t, srv, maxMsg))

	big := strings.Repeat("v", queryRequestMaxSize+1)
	push := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: big}}}}}
	_, err := client.Push(t.Context(), push)
	require.NoError(t, err)
	require.Equal(t, "Push", <-ing.calls)

	_, err = client.LabelNames(t.Context(), &ingesterpb.LabelNamesRequest{Matchers: []ingesterpb.LabelMatcher{{Name: "job", Value: "x"}}})
	require.NoError(t, err)
	require.Equal(t, "LabelNames", <-ing.calls)

	_, err = client.LabelNames(t.Context(), &ingesterpb.LabelNamesRequest{Matchers: []ingesterpb.LabelMatcher{{Name: "job", Value: big}}})
	require.Error(t, err)
	require.Contains(t, status.Convert(err).Message(), "LabelNamesRequest of 4194")
	require.Contains(t, status.Convert(err).Message(), "larger than its limit of 4194304 bytes")
	require.Empty(t, ing.calls, "the handler was reached")

	// A querier's answer to the query frontend is a whole API response.
	require.Equal(t, maxMsg, limitCodec{push: maxMsg}.maxSize(&frontendpb.QuerierMessage{}))
}

// TestGRPCMaxConcurrentStreams: one connection holds at most
// grpcMaxConcurrentStreams streams; the next waits for one to end (before,
// a connection could open 2^32).
func TestGRPCMaxConcurrentStreams(t *testing.T) {
	srv := newGRPCServer(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 1<<20, nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	client := healthpb.NewHealthClient(serveGRPC(t, srv, 1<<20))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for i := range grpcMaxConcurrentStreams {
		ws, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = ws.Recv() // the stream is open on the server
		require.NoError(t, err, "stream %d", i)
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	ws, err := client.Watch(short, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = ws.Recv()
	}
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
}
