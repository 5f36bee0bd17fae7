package clientpool

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// LocalPusher is an ingester running in the pool's own process.
// *ingester.Ingester implements it.
type LocalPusher interface {
	// Push must behave exactly as the ingester's gRPC Push handler: the
	// tenant comes from ctx, failures are gRPC status errors. It must not
	// keep any part of req (strings, slices) after it returns: the caller
	// reuses the request's buffers. Safe for concurrent use.
	Push(ctx context.Context, req *ingesterpb.PushRequest) (*ingesterpb.PushResponse, error)
}

// LocalIngester names the ingester of this process, whose pushes the pool
// serves in-process instead of over loopback gRPC.
type LocalIngester struct {
	// Addr is the address the ingester registered in the ring.
	Addr string
	// Pusher is the ingester.
	Pusher LocalPusher
	// Querier, if set, is the ingester too: QueryStream calls to Addr are
	// then served in-process as well.
	Querier LocalQuerier
}

// localClient sends Push, and QueryStream when it has a querier, to the
// ingester of this process by a method call, and every other call over
// gRPC like any client.
type localClient struct {
	ingesterpb.IngesterClient
	pusher  LocalPusher
	querier LocalQuerier
}

// Push calls the local ingester directly: no marshalling, no HTTP/2, no
// decoding. What gRPC would do on the way is done here: a context already
// done fails as gRPC fails it, and the tenant in ctx reaches the ingester
// as the tenant interceptors would carry it (it was validated at the edge;
// without one the ingester answers Unauthenticated either way). Call
// options (message sizes) do not apply: the request is never marshalled.
func (c *localClient) Push(ctx context.Context, req *ingesterpb.PushRequest, _ ...grpc.CallOption) (*ingesterpb.PushResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return c.pusher.Push(ctx, req)
}

var _ ingesterpb.IngesterClient = (*localClient)(nil)
