package ruler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
)

// groupsMethod is the gRPC method rulers answer each other's state
// requests with: a JSON [StateFilter] in, a JSON []GroupState out, each in
// a BytesValue, for the tenant in the call's metadata. The gRPC server
// authenticates the caller as a cluster member.
const groupsMethod = "/hearth.ruler.v1.Ruler/Groups"

// maxPeerStateBytes bounds one ruler's answer about one tenant.
const maxPeerStateBytes = 64 << 20

type groupsServer interface {
	Groups(ctx context.Context, f StateFilter) ([]GroupState, error)
}

var rulerServiceDesc = grpc.ServiceDesc{
	ServiceName: "hearth.ruler.v1.Ruler",
	HandlerType: (*groupsServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Groups",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := &wrapperspb.BytesValue{}
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) {
				return serveGroups(ctx, srv.(groupsServer), req.(*wrapperspb.BytesValue))
			}
			if interceptor == nil {
				return call(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: groupsMethod}, call)
		},
	}},
	Streams:  []grpc.StreamDesc{},
	Metadata: "ruler",
}

func serveGroups(ctx context.Context, srv groupsServer, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	var f StateFilter
	if err := json.Unmarshal(in.Value, &f); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decoding the state filter: %v", err)
	}
	if _, err := tenant.FromContext(ctx); err != nil {
		return nil, status.Error(codes.InvalidArgument, "no tenant in the call")
	}
	groups, err := srv.Groups(ctx, f)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding rule groups: %v", err)
	}
	return wrapperspb.Bytes(b), nil
}

// RegisterGRPC serves the other rulers' state requests on s. Register it
// before s serves.
func (r *Ruler) RegisterGRPC(s *grpc.Server) {
	s.RegisterService(&rulerServiceDesc, r)
}

// RingStatus lists a ring's instances (pkg/ring's Ring.Status).
type RingStatus interface {
	Status() ring.Status
}

// PeerClient asks the other healthy rulers of the ring for a tenant's
// groups. Safe for concurrent use; Close closes its connections.
type PeerClient struct {
	ring    RingStatus
	self    string
	dial    []grpc.DialOption
	timeout time.Duration

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewPeerClient returns a client that asks every ACTIVE healthy ruler of
// r but self. dial adds to its dial options (the cluster's credentials).
func NewPeerClient(r RingStatus, self string, timeout time.Duration, dial ...grpc.DialOption) *PeerClient {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		gogocodec.DialOption(),
		grpc.WithChainUnaryInterceptor(tenant.UnaryClientInterceptor),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxPeerStateBytes)),
	}
	return &PeerClient{ring: r, self: self, dial: append(opts, dial...), timeout: timeout, conns: map[string]*grpc.ClientConn{}}
}

func (p *PeerClient) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conns[addr]; c != nil {
		return c, nil
	}
	c, err := grpc.NewClient(addr, p.dial...)
	if err != nil {
		return nil, fmt.Errorf("dialling ruler %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// Groups asks every other ruler for the groups of the tenant in ctx.
func (p *PeerClient) Groups(ctx context.Context, f StateFilter) ([]GroupState, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	type result struct {
		groups []GroupState
		err    error
	}
	var addrs []string
	for _, in := range p.ring.Status().Instances {
		if in.ID != p.self && in.Healthy && in.State == ring.StateName(ring.Active) {
			addrs = append(addrs, in.Addr)
		}
	}
	results := make(chan result, len(addrs))
	for _, addr := range addrs {
		go func() {
			c, err := p.conn(addr)
			if err != nil {
				results <- result{err: err}
				return
			}
			out := &wrapperspb.BytesValue{}
			if err := c.Invoke(ctx, groupsMethod, wrapperspb.Bytes(body), out); err != nil {
				results <- result{err: fmt.Errorf("ruler %s: %w", addr, err)}
				return
			}
			var gs []GroupState
			if err := json.Unmarshal(out.Value, &gs); err != nil {
				results <- result{err: fmt.Errorf("decoding ruler %s's answer: %w", addr, err)}
				return
			}
			results <- result{groups: gs}
		}()
	}
	var all []GroupState
	var errs []error
	for range addrs {
		r := <-results
		all = append(all, r.groups...)
		errs = append(errs, r.err)
	}
	return all, errors.Join(errs...)
}

// Close closes the connections to the other rulers.
func (p *PeerClient) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for addr, c := range p.conns {
		errs = append(errs, c.Close())
		delete(p.conns, addr)
	}
	return errors.Join(errs...)
}
