package auth

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

const checkMethod = "/grpc.health.v1.Health/Check"

// rogueServer is a ring member without the secret: it accepts every call
// and keeps the metadata it was sent.
func rogueServer(t *testing.T) (string, func() metadata.MD) {
	t.Helper()
	var mu sync.Mutex
	var got metadata.MD
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		got = md.Copy()
		mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String(), func() metadata.MD { mu.Lock(); defer mu.Unlock(); return got }
}

// sign makes the header c's client would send for method to addr.
func sign(t *testing.T, c *Cluster, addr, method, tenantID string) string {
	t.Helper()
	ctx := credentials.NewContextWithRequestInfo(metadata.AppendToOutgoingContext(t.Context(), tenantMetadataKey, tenantID), credentials.RequestInfo{Method: method})
	svc := method[:strings.LastIndex(method, "/")]
	md, err := hmacCredentials{c: c}.GetRequestMetadata(ctx, "https://"+addr+svc)
	require.NoError(t, err)
	return md[clusterAuthKey]
}

// TestCapturedCredentialIsUseless: the shared-secret mode never sends the
// secret, and what a member without it captures cannot be used: not at
// another server, not twice, not after the window, not for another tenant
// or method.
func TestCapturedCredentialIsUseless(t *testing.T) {
	const secret = "cluster-secret-1"
	reg := prometheus.NewPedanticRegistry()
	cfg := secretConfig(secret)
	c, err := NewCluster(cfg, ClusterOptions{Registerer: reg})
	require.NoError(t, err)
	addr, seen := grpcServer(t, c)
	signer, err := NewCluster(cfg, ClusterOptions{}) // another process of the cluster
	require.NoError(t, err)

	// A distributor pushes to a ring member that lacks the secret.
	rogue, captured := rogueServer(t)
	_, err = dial(t, rogue, signer.DialOptions()...).Check(tenant.WithID(t.Context(), "team-a"), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	md := captured()
	require.Len(t, md.Get(clusterAuthKey), 1)
	for k, vs := range md {
		for _, v := range vs {
			require.NotContains(t, v, secret, "metadata %s carries the secret", k)
		}
	}
	stolen := md.Get(clusterAuthKey)[0]

	call := func(t *testing.T, header, tenantID string, opts ...grpc.DialOption) error {
		t.Helper()
		ctx := metadata.AppendToOutgoingContext(t.Context(), clusterAuthKey, header, tenantMetadataKey, tenantID)
		_, err := dial(t, addr, opts...).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	fresh := func() string { return sign(t, signer, addr, checkMethod, "team-a") }
	for name, tc := range map[string]struct {
		call   func(t *testing.T) error
		reason string
	}{
		"the captured header, at a real member": {func(t *testing.T) error { return call(t, stolen, "team-a") }, "signature"},
		"the captured header, claiming the rogue's address": {func(t *testing.T) error {
			return call(t, stolen, "team-a", grpc.WithAuthority(rogue))
		}, "audience"},
		"a header for another tenant": {func(t *testing.T) error { return call(t, fresh(), "team-b") }, "signature"},
		"a header for another method": {func(t *testing.T) error {
			return call(t, sign(t, signer, addr, "/grpc.health.v1.Health/List", "team-a"), "team-a")
		}, "signature"},
		"a header from before the window": {func(t *testing.T) error {
			old := signerAt(t, cfg, -clockWindow-time.Second)
			return call(t, sign(t, old, addr, checkMethod, "team-a"), "team-a")
		}, "clock"},
		"a header from beyond the window": {func(t *testing.T) error {
			future := signerAt(t, cfg, clockWindow+time.Second)
			return call(t, sign(t, future, addr, checkMethod, "team-a"), "team-a")
		}, "clock"},
		"a valid header, replayed": {func(t *testing.T) error {
			h := fresh()
			require.NoError(t, call(t, h, "team-a"), "first use")
			return call(t, h, "team-a")
		}, "replay"},
		"a valid header, replayed once its window passed": {func(t *testing.T) error {
			h := fresh()
			require.NoError(t, call(t, h, "team-a"), "first use")
			c.now = func() time.Time { return time.Now().Add(clockWindow + time.Second) }
			defer func() { c.now = time.Now }()
			return call(t, h, "team-a")
		}, "clock"},
	} {
		t.Run(name, func(t *testing.T) {
			before := testutil.ToFloat64(c.refused.WithLabelValues(tc.reason))
			err := tc.call(t)
			require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
			require.Equal(t, before+1, testutil.ToFloat64(c.refused.WithLabelValues(tc.reason)), "refused as %s: %v", tc.reason, err)
		})
	}
	require.Equal(t, []string{"team-a", "team-a"}, seen.get(), "only the two first uses reached a handler")
}

// signerAt is a process of the cluster whose clock is off by offset.
func signerAt(t *testing.T, cfg Config, offset time.Duration) *Cluster {
	t.Helper()
	c, err := NewCluster(cfg, ClusterOptions{})
	require.NoError(t, err)
	c.now = func() time.Time { return time.Now().Add(offset) }
	return c
}

func TestNonceCache(t *testing.T) {
	now := time.UnixMilli(1_000_000_000_000)
	c := newNonceCache(3)
	n := func(b byte) [nonceLen]byte { return [nonceLen]byte{b} }
	require.Equal(t, nonceNew, c.add(n(1), now, now))
	require.Equal(t, nonceReplayed, c.add(n(1), now, now))
	require.Equal(t, nonceNew, c.add(n(1), now.Add(clockWindow), now), "another timestamp: another call")
	require.Equal(t, nonceNew, c.add(n(2), now.Add(-clockWindow), now))
	require.Equal(t, nonceCacheFull, c.add(n(3), now, now))
	// Two windows on, every timestamp seen is out of the window: forgotten.
	later := now.Add(2*clockWindow + clockWindow)
	require.Equal(t, nonceNew, c.add(n(3), later, later))
	require.Equal(t, 1, c.len())
}

// countingListener counts the bytes its connections read.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestUnauthenticatedCallIsRefusedBeforeItsMessage: a 90 MiB call without
// the cluster credential is refused on its headers; the server reads a
// fraction of a MiB of it (it read all 90 MiB, then refused, before).
func TestUnauthenticatedCallIsRefusedBeforeItsMessage(t *testing.T) {
	const maxMsg = 100 << 20
	c, err := NewCluster(secretConfig("cluster-secret-1"), ClusterOptions{})
	require.NoError(t, err)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lis := &countingListener{Listener: inner}
	c.AddAudience(lis.Addr().String())
	srv := grpc.NewServer(append(c.ServerOptions(), grpc.MaxRecvMsgSize(maxMsg))...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })

	big := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 90<<20)}
	sendBig := grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMsg))

	_, err = dial(t, lis.Addr().String(), sendBig).Check(t.Context(), big)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	t.Logf("the server read %d bytes of an unauthenticated 90 MiB call", lis.read.Load())
	require.Less(t, lis.read.Load(), int64(2<<20), "bytes the server read of an unauthenticated 90 MiB call")

	// The same call, signed, is read whole: the counter does count.
	_, err = dial(t, lis.Addr().String(), append(c.DialOptions(), sendBig)...).Check(t.Context(), big)
	require.Equal(t, codes.NotFound, status.Code(err), "%v", err) // no such service: it was read and handled
	require.Greater(t, lis.read.Load(), int64(90<<20))
}
