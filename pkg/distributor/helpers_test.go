package distributor

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow is the validation clock of the tests.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeRing puts every key on all of its instances (up to RF 3).
type fakeRing struct {
	instances []ringpb.InstanceDesc
	err       error
	// single is what SingleOwner reports; every key has the same
	// replicas either way.
	single bool
}

func newFakeRing(addrs ...string) *fakeRing {
	r := &fakeRing{}
	for _, a := range addrs {
		r.instances = append(r.instances, ringpb.InstanceDesc{Id: a, Addr: a})
	}
	return r
}

func (r *fakeRing) Get(_ uint32, _ ring.Operation, buf []ringpb.InstanceDesc) (ring.ReplicationSet, error) {
	if r.err != nil {
		return ring.ReplicationSet{}, r.err
	}
	buf = append(buf[:0], r.instances...)
	return ring.ReplicationSet{Instances: buf, MaxErrors: len(buf) - (len(buf)/2 + 1)}, nil
}

func (r *fakeRing) GetAll(ring.Operation) (ring.ReplicationSet, error) {
	return ring.ReplicationSet{Instances: r.instances, MaxErrors: len(r.instances) / 2}, nil
}

func (r *fakeRing) ReplicationFactor() int { return len(r.instances) }

func (r *fakeRing) SingleOwner() bool { return r.single }

// fakeIngester is an in-memory ingesterpb.IngesterClient. Push marshals
// the request, as gRPC would, so it reads the request body's memory.
type fakeIngester struct {
	ingesterpb.IngesterClient // nil: other methods are not called

	mu       sync.Mutex
	err      error                  // returned by Push
	errors   []ingesterpb.PushError // put in PushResponse
	refused  []ingesterpb.SeriesRefusal
	block    chan struct{} // when set, Push waits for it before marshalling
	entered  chan struct{} // when set, Push signals on entry
	received []ingesterpb.PushRequest
	stats    []ingesterpb.TenantStatsEntry
	// inProcess makes the ingester one of the distributor's process: it
	// takes each series' labels.Labels (PushWithLabels) and records them
	// in receivedLabels.
	inProcess      bool
	receivedLabels [][]labels.Labels
}

func (f *fakeIngester) InProcess() bool { return f.inProcess }

func (f *fakeIngester) PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels, _ ...grpc.CallOption) (*ingesterpb.PushResponse, error) {
	f.mu.Lock()
	f.receivedLabels = append(f.receivedLabels, slices.Clone(series))
	f.mu.Unlock()
	return f.Push(ctx, req)
}

func (f *fakeIngester) Push(ctx context.Context, req *ingesterpb.PushRequest, _ ...grpc.CallOption) (*ingesterpb.PushResponse, error) {
	f.mu.Lock()
	block, entered, err, perrs, refused := f.block, f.entered, f.err, f.errors, f.refused
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if _, terr := tenant.FromContext(ctx); terr != nil {
		return nil, terr
	}
	data, merr := req.Marshal()
	if merr != nil {
		return nil, merr
	}
	var got ingesterpb.PushRequest
	if uerr := got.Unmarshal(data); uerr != nil { // copies the strings
		return nil, uerr
	}
	f.mu.Lock()
	f.received = append(f.received, got)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &ingesterpb.PushResponse{Errors: perrs, Refused: refused}, nil
}

func (f *fakeIngester) AllTenantStats(context.Context, *ingesterpb.AllTenantStatsRequest, ...grpc.CallOption) (*ingesterpb.AllTenantStatsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &ingesterpb.AllTenantStatsResponse{Tenants: f.stats}, nil
}

func (f *fakeIngester) series() []ingesterpb.TimeSeries {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ingesterpb.TimeSeries
	for _, r := range f.received {
		out = append(out, r.Timeseries...)
	}
	return out
}

type fakeClients map[string]*fakeIngester

func (c fakeClients) Get(addr string) (ingesterpb.IngesterClient, error) {
	if f, ok := c[addr]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("no ingester %s", addr)
}

type testEnv struct {
	d         *Distributor
	ring      *fakeRing
	ingesters []*fakeIngester
	reg       *prometheus.Registry
	handler   http.Handler
}

func defaultLimits() limits.Limits {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
	return l
}

func defaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
	return c
}

// newTestEnv starts a distributor over n in-memory ingesters.
func newTestEnv(t testing.TB, n int, mutate func(*Config, *limits.Limits)) *testEnv {
	t.Helper()
	return newTestEnvHooks(t, n, mutate)
}

// newTestEnvHooks is newTestEnv with pre-push hooks.
func newTestEnvHooks(t testing.TB, n int, mutate func(*Config, *limits.Limits), hooks ...PrePushHook) *testEnv {
	t.Helper()
	cfg, lim := defaultConfig(), defaultLimits()
	if mutate != nil {
		mutate(&cfg, &lim)
	}
	env := &testEnv{reg: prometheus.NewPedanticRegistry()}
	clients := fakeClients{}
	var addrs []string
	for i := range n {
		addr := fmt.Sprintf("ingester-%d", i)
		f := &fakeIngester{}
		clients[addr] = f
		env.ingesters = append(env.ingesters, f)
		addrs = append(addrs, addr)
	}
	env.ring = newFakeRing(addrs...)
	d, err := New(Deps{
		Config: cfg, Ring: env.ring, Clients: clients, Limits: limits.NewOverrides(lim), Hooks: hooks,
		Logger: slog.New(slog.DiscardHandler), Registerer: env.reg,
		Now: func() time.Time { return testNow },
	})
	require.NoError(t, err)
	env.d = d
	env.handler = tenant.TrustHeader(d.PushHandler())
	require.NoError(t, d.Service().StartAsync(context.Background()))
	t.Cleanup(func() {
		for _, f := range env.ingesters {
			f.mu.Lock()
			if f.block != nil {
				select {
				case <-f.block:
				default:
					close(f.block)
				}
			}
			f.mu.Unlock()
		}
		d.Service().StopAsync()
		require.NoError(t, d.Service().AwaitTerminated(context.Background()))
	})
	return env
}

// push sends an RW1 request through the HTTP handler.
func (e *testEnv) push(t testing.TB, req *ingesterpb.PushRequest) *httptest.ResponseRecorder {
	t.Helper()
	data, err := req.Marshal()
	require.NoError(t, err)
	return e.pushRaw(t, snappy.Encode(nil, data), "application/x-protobuf", "snappy")
}

func (e *testEnv) pushRaw(t testing.TB, body []byte, contentType, encoding string) *httptest.ResponseRecorder {
	t.Helper()
	hr := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(body))
	hr.Header.Set("Content-Type", contentType)
	if encoding != "" {
		hr.Header.Set("Content-Encoding", encoding)
	}
	hr.Header.Set(tenant.Header, "tenant-1")
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, hr)
	return w
}

func body(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	return w.Body.String() // does not consume the body
}

func series(name string, ts int64, kv ...string) ingesterpb.TimeSeries {
	s := ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: name}}}
	for i := 0; i < len(kv); i += 2 {
		s.Labels = append(s.Labels, ingesterpb.LabelPair{Name: kv[i], Value: kv[i+1]})
	}
	s.Samples = []ingesterpb.Sample{{Value: 1, TimestampMs: ts}}
	return s
}
