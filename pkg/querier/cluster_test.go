package querier

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// cluster is n real ingesters (pkg/ingester) behind gRPC servers on
// 127.0.0.1, with a client pool. It implements Instances (every ingester,
// tolerating (n-1)/2 failures, as the ring does for a read) and Clients.
type cluster struct {
	ingesters []*ingester.Ingester
	servers   []*grpc.Server
	served    []chan struct{}
	addrs     []string
	maxErrors int
	overrides *limits.Overrides

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func defaultLimits() limits.Limits {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("limits", flag.PanicOnError))
	return l
}

// newCluster starts n ingesters with the default limits changed by
// setLimits, if given. Their blocks cover a day, as in Prometheus's test
// storage, so test data loaded series after series from time 0 stays within
// the head's appendable window.
func newCluster(t testing.TB, n int, setLimits ...func(*limits.Limits)) *cluster {
	t.Helper()
	l := defaultLimits()
	for _, f := range setLimits {
		f(&l)
	}
	c := &cluster{maxErrors: (n - 1) / 2, conns: map[string]*grpc.ClientConn{}, overrides: limits.NewOverrides(l)}
	dir := t.TempDir()
	for i := range n {
		var cfg ingester.Config
		cfg.RegisterFlags(flag.NewFlagSet("ingester", flag.PanicOnError))
		cfg.Dir = filepath.Join(dir, fmt.Sprint(i))
		cfg.BlockRange = model.Duration(24 * time.Hour)
		cfg.RetentionPeriod = cfg.BlockRange
		ing, err := ingester.New(ingester.Deps{
			Config:     cfg,
			Logger:     slog.New(slog.DiscardHandler),
			Registerer: prometheus.NewRegistry(),
			Overrides:  c.overrides,
		})
		require.NoError(t, err)
		require.NoError(t, ing.Service().StartAsync(context.Background()))
		require.NoError(t, ing.Service().AwaitRunning(context.Background()))
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		srv := grpc.NewServer(gogocodec.ServerOption(),
			grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor),
			grpc.ChainStreamInterceptor(tenant.StreamServerInterceptor))
		ing.Register(srv)
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = srv.Serve(lis)
		}()
		c.ingesters = append(c.ingesters, ing)
		c.servers = append(c.servers, srv)
		c.served = append(c.served, served)
		c.addrs = append(c.addrs, lis.Addr().String())
	}
	t.Cleanup(func() { require.NoError(t, c.close()) })
	return c
}

// close stops everything; it may be called more than once.
func (c *cluster) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	for i, srv := range c.servers {
		srv.Stop()
		<-c.served[i]
		c.ingesters[i].Service().StopAsync()
		errs = append(errs, c.ingesters[i].Service().AwaitTerminated(context.Background()))
	}
	return errors.Join(errs...)
}

// stop stops ingester i's server, as if the process died.
func (c *cluster) stop(i int) { c.servers[i].Stop() }

func (c *cluster) GetAll(ring.Operation) (ring.ReplicationSet, error) {
	rs := ring.ReplicationSet{MaxErrors: c.maxErrors}
	for i, addr := range c.addrs {
		rs.Instances = append(rs.Instances, ringpb.InstanceDesc{Id: fmt.Sprint("ingester-", i), Addr: addr, State: ringpb.InstanceState_INSTANCE_STATE_ACTIVE})
	}
	return rs, nil
}

func (c *cluster) Get(addr string) (ingesterpb.IngesterClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, ok := c.conns[addr]
	if !ok {
		var err error
		conn, err = grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			gogocodec.DialOption(),
			grpc.WithChainUnaryInterceptor(tenant.UnaryClientInterceptor),
			grpc.WithChainStreamInterceptor(tenant.StreamClientInterceptor))
		if err != nil {
			return nil, err
		}
		c.conns[addr] = conn
	}
	return ingesterpb.NewIngesterClient(conn), nil
}

// push sends req to the ingesters named by idx (all when idx is empty), as
// the distributor replicates a write.
func (c *cluster) push(ctx context.Context, req *ingesterpb.PushRequest, idx ...int) error {
	if len(idx) == 0 {
		for i := range c.addrs {
			idx = append(idx, i)
		}
	}
	for _, i := range idx {
		client, err := c.Get(c.addrs[i])
		if err != nil {
			return err
		}
		resp, err := client.Push(ctx, req)
		if err != nil {
			return err
		}
		if len(resp.Errors) > 0 {
			return fmt.Errorf("ingester %d: %s: %s", i, resp.Errors[0].Reason, resp.Errors[0].Message)
		}
	}
	return nil
}
