package app

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/frontendpb"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// gRPC server limits. Callers are authenticated before a stream exists
// (mutual TLS at the handshake, the cluster HMAC in a tap handle), so these
// bound what a member, not a stranger, can hold.
const (
	// grpcMaxConcurrentStreams per connection: a distributor or querier
	// keeps one connection per ingester and multiplexes every call on it;
	// calls past the limit wait on the client for a free stream.
	grpcMaxConcurrentStreams = 1000
	// queryRequestMaxSize bounds every request but Push: matchers and a
	// time range, a few KiB for a real query (gRPC's own default, 4 MiB,
	// leaves room for long regexps and many match[] sets).
	queryRequestMaxSize = 4 << 20
	// emptyRequestMaxSize bounds requests that carry nothing of note
	// (health checks, tenant stats).
	emptyRequestMaxSize = 4 << 10
)

var grpcKeepalive = keepalive.ServerParameters{
	// Connections without calls for 5m are closed (GOAWAY; a client
	// reconnects when it next needs one). Pooled clients health-check every
	// few seconds, so only abandoned connections go.
	MaxConnectionIdle: 5 * time.Minute,
	// Ping an idle client after 1m, and drop it if no answer comes in 20s:
	// half-open connections (a peer's host vanished) are found.
	Time:    time.Minute,
	Timeout: 20 * time.Second,
}

// grpcEnforcement refuses clients that ping more often than every 10s
// (the client pool pings every -ingester-client.keepalive-time, 20s).
var grpcEnforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}

// newGRPCServer builds the process's gRPC server. authOpts authenticate
// callers (see auth.Cluster.ServerOptions); they come before the tenant
// interceptors, so a tenant named in metadata is only read from an
// authenticated caller. maxMsgSize is the largest message received (a
// Push) or sent.
func newGRPCServer(logger *slog.Logger, reg prometheus.Registerer, maxMsgSize int, authOpts []grpc.ServerOption) *grpc.Server {
	p := &grpcPanics{logger: logger, count: promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "hearth_grpc_panics_total",
		Help: "Panics in gRPC handlers and message decoding, answered with Internal instead of ending the process; each is logged with its stack.",
	})}
	opts := []grpc.ServerOption{
		// First: the recovery interceptors wrap everything after them.
		grpc.ChainUnaryInterceptor(p.unary),
		grpc.ChainStreamInterceptor(p.stream),
	}
	opts = append(opts, authOpts...)
	return grpc.NewServer(append(opts,
		grpc.ForceServerCodec(limitCodec{push: maxMsgSize, panics: p}),
		// The largest message any method needs: a larger one is refused
		// from its length prefix, unread. Per-method limits are in
		// limitCodec.
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
		grpc.MaxConcurrentStreams(grpcMaxConcurrentStreams),
		grpc.KeepaliveParams(grpcKeepalive),
		grpc.KeepaliveEnforcementPolicy(grpcEnforcement),
		grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor),
		grpc.ChainStreamInterceptor(tenant.StreamServerInterceptor),
	)...)
}

// limitCodec is gogocodec with a receive limit per request type, checked
// before decoding (decoding multiplies a message's bytes into objects),
// and a decoder panic turned into an error: a unary request is decoded
// before any interceptor runs.
type limitCodec struct {
	gogocodec.Codec
	push   int
	panics *grpcPanics
}

// maxSize is the largest request of v's type: what its method needs.
func (c limitCodec) maxSize(v any) int {
	switch v.(type) {
	case *ingesterpb.PushRequest, *frontendpb.QuerierMessage:
		// A querier's answer to the query frontend is a whole API response.
		return c.push
	case *healthpb.HealthCheckRequest, *ingesterpb.TenantStatsRequest, *ingesterpb.AllTenantStatsRequest:
		return emptyRequestMaxSize
	}
	return min(queryRequestMaxSize, c.push)
}

// Unmarshal decodes data into v when it is within v's limit.
func (c limitCodec) Unmarshal(data []byte, v any) (err error) {
	if limit := c.maxSize(v); len(data) > limit {
		return status.Errorf(codes.ResourceExhausted, "%T of %d bytes is larger than its limit of %d bytes", v, len(data), limit)
	}
	defer func() {
		if r := recover(); r != nil {
			err = c.panics.recovered("decoding", r)
		}
	}()
	return c.Codec.Unmarshal(data, v)
}

// grpcPanics turns a panic in a handler into an Internal error.
type grpcPanics struct {
	logger *slog.Logger
	count  prometheus.Counter
}

func (p *grpcPanics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = p.recovered(info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func (p *grpcPanics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = p.recovered(info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

func (p *grpcPanics) recovered(method string, r any) error {
	p.count.Inc()
	p.logger.Error("Panic in a gRPC call", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "internal error in %s (logged by the server)", method)
}
