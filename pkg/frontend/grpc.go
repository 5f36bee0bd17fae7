package frontend

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/frontend/queue"
	"github.com/hearthmetrics/hearth/proto/frontendpb"
)

// maxQuerierIDLength bounds the name a querier gives itself.
const maxQuerierIDLength = 256

// ProofPurpose is what the frontend's proof to a querier is computed for
// (see auth.Cluster.Prove): the querier ID and its challenge are the parts.
const ProofPurpose = "hearth query frontend v1"

// RegisterGRPC serves the queriers' Process streams on s. s must
// authenticate its callers (pkg/auth's cluster credential): the tenant in
// each request is trusted by the querier because only cluster members
// reach this stream.
func (f *Frontend) RegisterGRPC(s *grpc.Server) {
	frontendpb.RegisterFrontendServiceServer(s, grpcServer{f})
}

type grpcServer struct{ f *Frontend }

// Process is one querier worker's stream.
func (g grpcServer) Process(stream frontendpb.FrontendService_ProcessServer) error {
	hello, err := stream.Recv()
	if err != nil {
		return err
	}
	if hello.QuerierId == "" || len(hello.QuerierId) > maxQuerierIDLength {
		return status.Errorf(codes.InvalidArgument, "the first message must name the querier in 1 to %d bytes", maxQuerierIDLength)
	}
	if n := len(hello.Challenge); n < 16 || n > 64 {
		return status.Errorf(codes.InvalidArgument, "the first message must carry a challenge of 16 to 64 bytes, not %d", n)
	}
	// Prove to the querier that it reached a member of the cluster before
	// it runs any tenant's query for this stream.
	var proof []byte
	if g.f.prove != nil {
		proof = g.f.prove(hello.QuerierId, hello.Challenge)
	}
	if err := stream.Send(&frontendpb.FrontendMessage{Proof: proof}); err != nil {
		return err
	}
	// The worker loop ends when the stream does, or when the querier
	// half-closes it (a stopping querier): no new request is sent then.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	msgs := make(chan *frontendpb.QuerierMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				cancel()
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	s := &grpcStream{stream: stream, msgs: msgs, recvErr: recvErr}
	err = g.f.Serve(ctx, hello.QuerierId, s.exec)
	if errors.Is(err, queue.ErrStopped) {
		return status.Error(codes.Unavailable, "the query frontend is shutting down")
	}
	if errors.Is(err, ErrQuerierLost) || ctx.Err() != nil {
		return nil
	}
	return err
}

// grpcStream executes requests over one querier's stream.
type grpcStream struct {
	stream  frontendpb.FrontendService_ProcessServer
	msgs    chan *frontendpb.QuerierMessage
	recvErr chan error
	lastID  uint64
}

func (s *grpcStream) exec(ctx context.Context, req *Request) (*Response, error) {
	s.lastID++
	id := s.lastID
	msg := &frontendpb.FrontendMessage{Id: id, Tenant: string(req.Tenant), Request: toProtoRequest(req)}
	if err := s.stream.Send(msg); err != nil {
		return nil, fmt.Errorf("%w: sending the request: %w", ErrQuerierLost, err)
	}
	cancelled := false
	done := ctx.Done()
	for {
		select {
		case m := <-s.msgs:
			if m.Id != id {
				continue // The answer to a request cancelled earlier.
			}
			if m.Response == nil {
				return nil, fmt.Errorf("%w: a message without a response", ErrQuerierLost)
			}
			return fromProtoResponse(m.Response), nil
		case err := <-s.recvErr:
			s.recvErr <- err // Every later exec sees it too.
			return nil, fmt.Errorf("%w: %w", ErrQuerierLost, err)
		case <-done:
			// The client went away: the querier's handler is cancelled, and
			// its answer, still awaited, keeps the stream in step.
			if !cancelled {
				cancelled = true
				done = nil
				if err := s.stream.Send(&frontendpb.FrontendMessage{Id: id, Cancel: true}); err != nil {
					return nil, fmt.Errorf("%w: sending a cancellation: %w", ErrQuerierLost, err)
				}
			}
		}
	}
}

// ToProtoHeader converts HTTP headers to the wire form.
func ToProtoHeader(h http.Header) []frontendpb.Header {
	out := make([]frontendpb.Header, 0, len(h))
	for k, vs := range h {
		out = append(out, frontendpb.Header{Key: k, Values: vs})
	}
	return out
}

// FromProtoHeader converts wire headers to HTTP headers.
func FromProtoHeader(hs []frontendpb.Header) http.Header {
	out := make(http.Header, len(hs))
	for _, h := range hs {
		out[http.CanonicalHeaderKey(h.Key)] = append(out[http.CanonicalHeaderKey(h.Key)], h.Values...)
	}
	return out
}

func toProtoRequest(r *Request) *frontendpb.HTTPRequest {
	return &frontendpb.HTTPRequest{Method: r.Method, Url: r.URL, Headers: ToProtoHeader(r.Header), Body: r.Body}
}

func fromProtoResponse(r *frontendpb.HTTPResponse) *Response {
	return &Response{Code: int(r.Code), Header: FromProtoHeader(r.Headers), Body: r.Body}
}
