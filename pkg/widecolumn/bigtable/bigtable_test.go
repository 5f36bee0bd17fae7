package bigtable

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/bttest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// grpc and the OpenCensus/OpenTelemetry machinery the client
		// pulls in keep process-wide workers.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// faults fails the next n calls of the given methods with code.
type faults struct {
	mu      sync.Mutex
	n       int
	code    codes.Code
	methods map[string]bool
	calls   atomic.Int64
}

func (f *faults) inject(n int, code codes.Code, methods ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.code, f.methods = n, code, map[string]bool{}
	for _, m := range methods {
		f.methods[m] = true
	}
}

func (f *faults) check(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 && f.methods[method] {
		f.n--
		f.calls.Add(1)
		return status.Error(f.code, "injected failure")
	}
	return nil
}

type testEnv struct {
	backend *Backend
	reg     *prometheus.Registry
	faults  *faults
}

func newEnv(t testing.TB, mutate func(*Options)) *testEnv {
	t.Helper()
	f := &faults{}
	srv, err := bttest.NewServer("127.0.0.1:0",
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := f.check(info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := f.check(info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
	require.NoError(t, err)
	o := DefaultOptions()
	o.Project, o.Instance, o.Table = "proj", "inst", "chunks"
	o.CreateTable = true
	// Each client dials its own connection, as with BIGTABLE_EMULATOR_HOST.
	o.ClientOptions = []option.ClientOption{
		option.WithEndpoint(srv.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	o.ClientConfig = bigtable.ClientConfig{
		MetricsProvider:           bigtable.NoopMetricsProvider{},
		DisableSession:            true,
		DisableDirectAccess:       true,
		DisableConnectionRecycler: true,
		DisableDynamicChannelPool: true,
	}
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 5*time.Millisecond
	if mutate != nil {
		mutate(&o)
	}
	reg := prometheus.NewPedanticRegistry()
	b, err := New(context.Background(), o, nil, reg)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, b.Close())
		srv.Close()
	})
	return &testEnv{backend: b, reg: reg, faults: f}
}

func newBackend(t testing.TB) widecolumn.Backend { return newEnv(t, nil).backend }

func TestConformance(t *testing.T) { widecolumntest.Run(t, newBackend) }

// TestSmallBatches runs the suite with tiny ApplyBulk calls and read
// batches, so splitting a row over calls and parallel batches are used.
func TestSmallBatches(t *testing.T) {
	widecolumntest.Run(t, func(t testing.TB) widecolumn.Backend {
		return newEnv(t, func(o *Options) {
			o.MaxMutationsPerCall = 7
			o.ReadBatchSize = 3
		}).backend
	})
}

func TestRetries(t *testing.T) {
	const (
		mutateRows = "/google.bigtable.v2.Bigtable/MutateRows"
		readRows   = "/google.bigtable.v2.Bigtable/ReadRows"
		dropRange  = "/google.bigtable.admin.v2.BigtableTableAdmin/DropRowRange"
	)
	ctx := context.Background()
	row := []widecolumn.RowMutation{{Key: []byte("k"), Cells: []widecolumn.Cell{{Column: []byte("c"), Value: []byte("v")}}}}
	cases := map[string]struct {
		code    codes.Code
		fail    int
		method  string
		call    func(b *Backend) error
		wantErr bool
	}{
		"write after resource exhausted": {code: codes.ResourceExhausted, fail: 2, method: mutateRows, call: func(b *Backend) error { return b.Apply(ctx, row) }},
		"write after unavailable":        {code: codes.Unavailable, fail: 3, method: mutateRows, call: func(b *Backend) error { return b.Apply(ctx, row) }},
		"read after aborted": {code: codes.Aborted, fail: 2, method: readRows, call: func(b *Backend) error {
			n := 0
			err := b.Read(ctx, widecolumn.ReadRequest{Keys: [][]byte{[]byte("k")}}, func(widecolumn.Row) bool { n++; return true })
			if err == nil && n != 1 {
				return fmt.Errorf("read %d rows", n)
			}
			return err
		}},
		"drop after resource exhausted": {code: codes.ResourceExhausted, fail: 2, method: dropRange, call: func(b *Backend) error { return b.DropPrefix(ctx, []byte("x")) }},
		"permanent error not retried":   {code: codes.InvalidArgument, fail: 1, method: mutateRows, call: func(b *Backend) error { return b.Apply(ctx, row) }, wantErr: true},
		"retries run out":               {code: codes.ResourceExhausted, fail: 100, method: mutateRows, call: func(b *Backend) error { return b.Apply(ctx, row) }, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, func(o *Options) { o.MaxRetries = 4 })
			require.NoError(t, env.backend.Apply(ctx, row))
			env.faults.inject(tc.fail, tc.code, tc.method)
			err := tc.call(env.backend)
			if tc.wantErr {
				require.Error(t, err)
				require.Equal(t, tc.code, status.Code(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, int64(tc.fail), env.faults.calls.Load())
			if tc.code == codes.ResourceExhausted {
				// The client library retries Unavailable and Aborted
				// itself; ResourceExhausted is left to us.
				require.InDelta(t, float64(tc.fail), widecolumntest.MetricValue(t, env.reg, "hearth_chunk_bigtable_retries_total"), 0)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	err := Options{MaxMutationsPerCall: 200_000}.Validate()
	for _, want := range []string{"project", "max mutations", "max bytes", "read batch", "read parallelism", "backoff"} {
		require.ErrorContains(t, err, want)
	}
	require.NoError(t, func() Options {
		o := DefaultOptions()
		o.Project, o.Instance, o.Table = "p", "i", "t"
		return o
	}().Validate())
}
