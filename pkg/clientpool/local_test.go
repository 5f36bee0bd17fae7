package clientpool

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
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
