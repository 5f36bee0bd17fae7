package clientpool

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestLocalIngesterPushesInProcess checks that the client of the local
// ingester's address hands Push to it directly, with the tenant, the very
// request and its status errors, while the same address's other calls and
// other addresses still go over gRPC.
func TestLocalIngesterPushesInProcess(t *testing.T) {
	remote, addr := start(t)
	other, otherAddr := start(t)
	local := &server{}
	p, _ := newPool(t, Options{Name: "distributor", Local: &LocalIngester{Addr: addr, Pusher: local}})

	c, err := p.Get(addr)
	require.NoError(t, err)
	ctx := tenant.WithID(t.Context(), "tenant-a")
	req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{{Labels: []ingesterpb.LabelPair{{Name: "a", Value: "b"}}}}}
	_, err = c.Push(ctx, req)
	require.NoError(t, err)
	local.mu.Lock()
	require.Equal(t, tenant.ID("tenant-a"), local.last)
	local.mu.Unlock()
	remote.mu.Lock()
	require.Empty(t, remote.last, "the push did not go over gRPC")
	remote.mu.Unlock()

	// Status errors pass through unchanged, as over gRPC.
	_, err = c.Push(context.Background(), req)
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	// A context already done fails as gRPC fails it.
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Push(done, req)
	require.Equal(t, codes.Canceled, status.Code(err))

	// Health checks (and every call but Push) still use the connection.
	p.CheckNow(t.Context())
	require.Equal(t, []string{addr}, p.Addrs())

	oc, err := p.Get(otherAddr)
	require.NoError(t, err)
	_, err = oc.Push(ctx, req)
	require.NoError(t, err)
	other.mu.Lock()
	require.Equal(t, tenant.ID("tenant-a"), other.last)
	other.mu.Unlock()
}

// labelsServer is an in-process ingester that takes series labels.
type labelsServer struct {
	server
	lsets []labels.Labels
}

func (s *labelsServer) PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels) (*ingesterpb.PushResponse, error) {
	s.mu.Lock()
	s.lsets = series
	s.mu.Unlock()
	return s.Push(ctx, req)
}

// TestPushWithLabels checks that series labels reach a local ingester that
// takes them, that a local one that does not gets the push alone, and that a
// remote one gets it over gRPC.
func TestPushWithLabels(t *testing.T) {
	type labelsClient interface {
		InProcess() bool
		PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels, opts ...grpc.CallOption) (*ingesterpb.PushResponse, error)
	}
	remote, remoteAddr := start(t)
	_, addr := start(t)
	lsets := []labels.Labels{labels.FromStrings("a", "b")}
	req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{{Labels: []ingesterpb.LabelPair{{Name: "a", Value: "b"}}}}}
	ctx := tenant.WithID(t.Context(), "tenant-a")

	withLabels := &labelsServer{}
	p, _ := newPool(t, Options{Name: "distributor", Local: &LocalIngester{Addr: addr, Pusher: withLabels}})
	c, err := p.Get(addr)
	require.NoError(t, err)
	lc, ok := c.(labelsClient)
	require.True(t, ok)
	require.True(t, lc.InProcess())
	_, err = lc.PushWithLabels(ctx, req, lsets)
	require.NoError(t, err)
	withLabels.mu.Lock()
	require.Equal(t, lsets, withLabels.lsets)
	require.Equal(t, tenant.ID("tenant-a"), withLabels.last)
	withLabels.mu.Unlock()
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = lc.PushWithLabels(done, req, lsets)
	require.Equal(t, codes.Canceled, status.Code(err))

	plain := &server{}
	p2, _ := newPool(t, Options{Name: "distributor", Local: &LocalIngester{Addr: addr, Pusher: plain}})
	c, err = p2.Get(addr)
	require.NoError(t, err)
	_, err = c.(labelsClient).PushWithLabels(ctx, req, lsets)
	require.NoError(t, err)
	plain.mu.Lock()
	require.Equal(t, tenant.ID("tenant-a"), plain.last)
	plain.mu.Unlock()

	c, err = p2.Get(remoteAddr)
	require.NoError(t, err)
	require.False(t, c.(labelsClient).InProcess())
	_, err = c.(labelsClient).PushWithLabels(ctx, req, lsets)
	require.NoError(t, err)
	remote.mu.Lock()
	require.Equal(t, tenant.ID("tenant-a"), remote.last)
	remote.mu.Unlock()
}
