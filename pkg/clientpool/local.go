package clientpool

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
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

// LocalLabelsPusher is a [LocalPusher] that can also take, beside the
// request, the labels.Labels each series' pairs were built from in this
// process, and append with them instead of rebuilding them from the
// pairs. *ingester.Ingester implements it.
type LocalLabelsPusher interface {
	// PushWithLabels is Push, with series[k], when not empty, the labels
	// of req.Timeseries[k]: the same labels as its pairs, in memory nothing
	// writes to, which the ingester may keep (a TSDB head keeps the labels
	// of a new series). A series whose entry is empty, or every series
	// when len(series) differs from len(req.Timeseries), is built from its
	// pairs as Push builds it.
	PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels) (*ingesterpb.PushResponse, error)
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

// pushWithLabels is Push with each series' labels.Labels, which the
// ingester uses when it is a [LocalLabelsPusher].
func (c *localClient) pushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels) (*ingesterpb.PushResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if lp, ok := c.pusher.(LocalLabelsPusher); ok {
		return lp.PushWithLabels(ctx, req, series)
	}
	return c.pusher.Push(ctx, req)
}

// InProcess reports whether the client's pushes are method calls on the
// ingester of this process ([Options.Local]).
func (c *client) InProcess() bool {
	_, ok := c.IngesterClient.(*localClient)
	return ok
}

// PushWithLabels pushes req with, for each of its series, the labels.Labels
// its pairs were built from (see [LocalLabelsPusher]). Only an ingester in
// this process uses them; a remote one gets req alone, over gRPC.
func (c *client) PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels, opts ...grpc.CallOption) (*ingesterpb.PushResponse, error) {
	if l, ok := c.IngesterClient.(*localClient); ok {
		return l.pushWithLabels(ctx, req, series)
	}
	return c.Push(ctx, req, opts...)
}

var _ ingesterpb.IngesterClient = (*localClient)(nil)
