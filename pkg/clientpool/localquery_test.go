package clientpool

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// streamingQuerier sends n messages, each naming the tenant of its
// context and its index, then returns err. ended is closed when it
// returns, with what its last Send returned.
type streamingQuerier struct {
	n       int
	err     error
	sendErr error
	ended   chan struct{}
}

func (q *streamingQuerier) QueryStream(req *ingesterpb.QueryRequest, stream ingesterpb.Ingester_QueryStreamServer) error {
	defer close(q.ended)
	id, err := tenant.FromContext(stream.Context())
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	for i := range q.n {
		msg := &ingesterpb.QueryStreamResponse{Series: []ingesterpb.ChunkSeries{{
			Labels: []ingesterpb.LabelPair{{Name: "tenant", Value: string(id)}},
			Chunks: []ingesterpb.Chunk{{MinTimeMs: req.StartMs + int64(i)}},
		}}}
		if q.sendErr = stream.Send(msg); q.sendErr != nil {
			return q.sendErr
		}
	}
	return q.err
}

// TestLocalQueryStream checks that the local ingester's QueryStream is
// served in-process with gRPC's stream semantics: every message in order
// then io.EOF, the handler's status error, and a canceled call that ends a
// handler blocked on Send.
func TestLocalQueryStream(t *testing.T) {
	remote, addr := start(t)
	tests := map[string]struct {
		sent, read int
		handlerErr error
		cancel     bool // Cancel the call after reading `read` messages.
		wantCode   codes.Code
	}{
		"every message then EOF": {sent: 10, read: 10},
		"an empty answer":        {sent: 0, read: 0},
		"the handler's error":    {sent: 3, read: 3, handlerErr: status.Error(codes.ResourceExhausted, "limit"), wantCode: codes.ResourceExhausted},
		"a canceled call":        {sent: 100, read: 1, cancel: true, wantCode: codes.Canceled},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := &streamingQuerier{n: tc.sent, err: tc.handlerErr, ended: make(chan struct{})}
			p, _ := newPool(t, Options{Name: "querier", Local: &LocalIngester{Addr: addr, Pusher: &server{}, Querier: q}})
			c, err := p.Get(addr)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(tenant.WithID(t.Context(), "tenant-a"))
			defer cancel()
			stream, err := c.QueryStream(ctx, &ingesterpb.QueryRequest{StartMs: 1000})
			require.NoError(t, err)
			for i := range tc.read {
				msg, err := stream.Recv()
				require.NoError(t, err)
				require.Equal(t, "tenant-a", msg.Series[0].Labels[0].Value)
				require.Equal(t, int64(1000+i), msg.Series[0].Chunks[0].MinTimeMs)
			}
			if tc.cancel {
				cancel()
				<-q.ended
				require.Equal(t, codes.Canceled, status.Code(q.sendErr), "the handler's Send after the cancel")
			}
			_, err = stream.Recv()
			if tc.wantCode == codes.OK {
				require.ErrorIs(t, err, io.EOF)
			} else {
				require.Equal(t, tc.wantCode, status.Code(err), "%v", err)
			}
			_, again := stream.Recv()
			require.Equal(t, status.Code(err), status.Code(again), "a second Recv after the end: %v", again)
			<-q.ended
			remote.mu.Lock()
			require.Empty(t, remote.last, "the call went over gRPC")
			remote.mu.Unlock()
		})
	}
}
