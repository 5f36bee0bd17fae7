package tenant

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// metadataKey carries the tenant in gRPC metadata (lower case, as gRPC
// requires).
const metadataKey = "x-scope-orgid"

// OutgoingContext returns ctx with its tenant copied into outgoing gRPC
// metadata. It fails when ctx carries no tenant.
func OutgoingContext(ctx context.Context) (context.Context, error) {
	id, err := FromContext(ctx)
	if err != nil {
		return ctx, err
	}
	return metadata.AppendToOutgoingContext(ctx, metadataKey, string(id)), nil
}

// fromIncoming reads and validates the tenant from incoming gRPC metadata.
func fromIncoming(ctx context.Context) (ID, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(metadataKey)
	if len(vals) != 1 {
		return "", ErrMissing
	}
	return Parse(vals[0])
}

// UnaryClientInterceptor copies the context's tenant, when there is one,
// into every outgoing unary call.
func UnaryClientInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if id, err := FromContext(ctx); err == nil {
		ctx = metadata.AppendToOutgoingContext(ctx, metadataKey, string(id))
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// StreamClientInterceptor is [UnaryClientInterceptor] for streams.
func StreamClientInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if id, err := FromContext(ctx); err == nil {
		ctx = metadata.AppendToOutgoingContext(ctx, metadataKey, string(id))
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// UnaryServerInterceptor puts the tenant from incoming metadata into the
// handler's context. Calls without a tenant reach the handler without one;
// handlers that need a tenant get ErrMissing from FromContext. An invalid
// tenant is refused with InvalidArgument.
func UnaryServerInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := incoming(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamServerInterceptor is [UnaryServerInterceptor] for streams.
func StreamServerInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := incoming(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
}

func incoming(ctx context.Context) (context.Context, error) {
	id, err := fromIncoming(ctx)
	switch {
	case err == nil:
		return WithID(ctx, id), nil
	case errors.Is(err, ErrMissing):
		return ctx, nil
	default:
		return ctx, status.Error(codes.InvalidArgument, "tenant: "+err.Error())
	}
}

type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }
