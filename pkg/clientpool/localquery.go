package clientpool

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// LocalQuerier is the read side of an ingester running in the pool's own
// process. *ingester.Ingester implements it.
type LocalQuerier interface {
	// QueryStream must behave exactly as the ingester's gRPC handler: the
	// tenant comes from stream.Context(), failures are gRPC status errors.
	// Every message it sends must be its own (the receiver keeps it).
	QueryStream(req *ingesterpb.QueryRequest, stream ingesterpb.Ingester_QueryStreamServer) error
}

// localStreamBuffer is how many messages the ingester may send ahead of
// the receiver, as gRPC's flow-control window lets it.
const localStreamBuffer = 4

// QueryStream runs the local ingester's QueryStream on a goroutine and
// hands its messages over a channel: no marshalling, no HTTP/2, no
// decoding. The messages are the ones the ingester built, which it never
// touches again once sent.
func (c *localClient) QueryStream(ctx context.Context, req *ingesterpb.QueryRequest, opts ...grpc.CallOption) (ingesterpb.Ingester_QueryStreamClient, error) {
	if c.querier == nil {
		return c.IngesterClient.QueryStream(ctx, req, opts...)
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &localStream{ctx: ctx, cancel: cancel, msgs: make(chan *ingesterpb.QueryStreamResponse, localStreamBuffer)}
	go func() {
		s.err = c.querier.QueryStream(req, (*localServerStream)(s))
		close(s.msgs) // After s.err is set: Recv reads it once msgs is closed.
	}()
	return s, nil
}

// localStream is both ends of an in-process server stream: the ingester
// sends on it as a [localServerStream], the caller receives from it.
type localStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	msgs   chan *ingesterpb.QueryStreamResponse
	err    error // The handler's result, set before msgs is closed.
	end    error // What Recv returns once msgs is closed: io.EOF or err.
}

var _ ingesterpb.Ingester_QueryStreamClient = (*localStream)(nil)

// Recv returns the next message, io.EOF after the last one, or the
// handler's error; once the call is canceled, a Canceled status, as gRPC
// does, whatever messages were still buffered. A canceled call ends the
// handler: its next Send fails.
func (s *localStream) Recv() (*ingesterpb.QueryStreamResponse, error) {
	if s.end != nil {
		return nil, s.end
	}
	if err := s.ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	select {
	case m, ok := <-s.msgs:
		if ok {
			return m, nil
		}
		s.end = io.EOF
		if s.err != nil {
			s.end = s.err
		}
		s.cancel()
		return nil, s.end
	case <-s.ctx.Done():
		return nil, status.FromContextError(s.ctx.Err()).Err()
	}
}

func (s *localStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }
func (s *localStream) Trailer() metadata.MD         { return metadata.MD{} }
func (s *localStream) CloseSend() error             { return nil }
func (s *localStream) Context() context.Context     { return s.ctx }

func (s *localStream) SendMsg(any) error {
	return status.Error(codes.Unimplemented, "a server stream takes no message from its client after the request")
}

func (s *localStream) RecvMsg(m any) error {
	r, ok := m.(*ingesterpb.QueryStreamResponse)
	if !ok {
		return status.Errorf(codes.Internal, "local QueryStream receives *ingesterpb.QueryStreamResponse, not %T", m)
	}
	msg, err := s.Recv()
	if err != nil {
		return err
	}
	*r = *msg
	return nil
}

// localServerStream is the ingester's end of a localStream.
type localServerStream localStream

var _ ingesterpb.Ingester_QueryStreamServer = (*localServerStream)(nil)

// Send hands m to the receiver, or fails once the call is canceled.
func (s *localServerStream) Send(m *ingesterpb.QueryStreamResponse) error {
	select {
	case s.msgs <- m:
		return nil
	case <-s.ctx.Done():
		return status.FromContextError(s.ctx.Err()).Err()
	}
}

func (s *localServerStream) Context() context.Context     { return s.ctx }
func (s *localServerStream) SetHeader(metadata.MD) error  { return nil }
func (s *localServerStream) SendHeader(metadata.MD) error { return nil }
func (s *localServerStream) SetTrailer(metadata.MD)       {}

func (s *localServerStream) SendMsg(m any) error {
	r, ok := m.(*ingesterpb.QueryStreamResponse)
	if !ok {
		return status.Errorf(codes.Internal, "local QueryStream sends *ingesterpb.QueryStreamResponse, not %T", m)
	}
	return s.Send(r)
}

func (s *localServerStream) RecvMsg(any) error {
	return errors.New("the request of a local QueryStream is passed as an argument")
}
