package worker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/frontend"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type noLimits struct{}

func (noLimits) MaxQueriersPerTenant(tenant.ID) int    { return 0 }
func (noLimits) MaxOutstandingPerTenant(tenant.ID) int { return 0 }

// startFrontend serves a frontend's gRPC side on a loopback port.
func startFrontend(t *testing.T) (*frontend.Frontend, string) {
	t.Helper()
	return startFrontendProving(t, nil)
}

// startFrontendProving is startFrontend with the cluster whose secret
// the frontend proves it holds.
func startFrontendProving(t *testing.T, c *auth.Cluster) (*frontend.Frontend, string) {
	t.Helper()
	var prove func(string, []byte) []byte
	if c != nil {
		prove = func(id string, challenge []byte) []byte { return c.Prove(frontend.ProofPurpose, []byte(id), challenge) }
	}
	fe, err := frontend.New(frontend.Deps{
		Prove:      prove,
		Config:     frontend.Config{MaxRetries: 5},
		Limits:     noLimits{},
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer(grpc.ForceServerCodec(gogocodec.Codec{}))
	fe.RegisterGRPC(s)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return fe, lis.Addr().String()
}

// startWorker runs a worker on handler against addr until the test ends.
func startWorker(t *testing.T, addr, id string, handler http.Handler) {
	t.Helper()
	startWorkerVerifying(t, addr, id, handler, nil)
}

// startWorkerVerifying is startWorker checking the frontend's proof with
// c's secret.
func startWorkerVerifying(t *testing.T, addr, id string, handler http.Handler, c *auth.Cluster) {
	t.Helper()
	var verify func(string, []byte, []byte) bool
	if c != nil {
		verify = func(id string, challenge, proof []byte) bool {
			return c.VerifyProof(proof, frontend.ProofPurpose, []byte(id), challenge)
		}
	}
	w, err := New(Deps{
		VerifyFrontend: verify,
		Config:         Config{FrontendAddress: addr, Parallelism: 2},
		QuerierID:      id,
		Handler:        handler,
		MaxMessageSize: 16 << 20,
		Logger:         slog.New(slog.DiscardHandler),
		Registerer:     prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	m := services.NewManager(slog.New(slog.DiscardHandler), w.Service())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx, 10*time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
}

func query(fe *frontend.Frontend, ctx context.Context, id tenant.ID) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil).WithContext(tenant.WithID(ctx, id))
	fe.Handler().ServeHTTP(w, r)
	return w
}

func TestQueryOverTheStream(t *testing.T) {
	fe, addr := startFrontend(t)
	startWorker(t, addr, "q1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.FromContext(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Tenant", string(id))
		_, _ = io.WriteString(w, r.URL.RequestURI())
	}))
	w := query(fe, context.Background(), "team-b")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "team-b", w.Header().Get("X-Tenant"))
	require.Equal(t, "/prometheus/api/v1/query?query=up", w.Body.String())
}

// The frontend's cancellation reaches the querier's handler, and the
// stream keeps serving afterwards.
func TestCancellationOverTheStream(t *testing.T) {
	fe, addr := startFrontend(t)
	started, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	startWorker(t, addr, "q1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("query") == "slow" {
			started <- struct{}{}
			<-r.Context().Done()
			cancelled <- struct{}{}
			return
		}
		_, _ = io.WriteString(w, "fast")
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=slow", nil).WithContext(tenant.WithID(ctx, "a"))
		fe.Handler().ServeHTTP(w, r)
	}()
	<-started
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the querier's handler was not cancelled")
	}
	<-done
	for range 4 { // Every stream still serves.
		require.Equal(t, "fast", query(fe, context.Background(), "a").Body.String())
	}
}

// A querier that goes away mid-query loses nothing: the frontend gives the
// request to another one.
func TestLostQuerierOverTheStream(t *testing.T) {
	fe, addr := startFrontend(t)
	taken := make(chan struct{})
	w, err := New(Deps{
		Config: Config{FrontendAddress: addr, Parallelism: 1}, QuerierID: "dying", MaxMessageSize: 16 << 20,
		Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			close(taken)
			<-r.Context().Done() // Never answers: the stream is cut below.
		}),
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.refresh(ctx)
	result := make(chan *httptest.ResponseRecorder)
	go func() { result <- query(fe, context.Background(), "a") }()
	<-taken
	// Cut the dying querier's connection, as kill -9 would.
	w.mu.Lock()
	for _, fc := range w.addrs {
		_ = fc.conn.Close()
	}
	w.mu.Unlock()
	startWorker(t, addr, "healthy", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "from the healthy one")
	}))
	got := <-result
	require.Equal(t, http.StatusOK, got.Code)
	require.Equal(t, "from the healthy one", got.Body.String())
	cancel()
	w.mu.Lock()
	for _, fc := range w.addrs {
		fc.close()
	}
	w.mu.Unlock()
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     Config
		wantErr string
	}{
		"no address":     {cfg: Config{Parallelism: 10}},
		"host and port":  {cfg: Config{FrontendAddress: "frontend:9095", Parallelism: 10}},
		"no port":        {cfg: Config{FrontendAddress: "frontend", Parallelism: 10}, wantErr: "host:port"},
		"no parallelism": {cfg: Config{Parallelism: 0}, wantErr: "at least 1"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// A querier runs queries only for a frontend that proves it holds the
// cluster secret: one with another secret gets the stream closed before
// any query reaches the handler.
func TestQuerierRunsQueriesOnlyForAClusterFrontend(t *testing.T) {
	cluster := func(secret string) *auth.Cluster {
		c, err := auth.NewCluster(auth.Config{ClusterSecret: auth.NewSecret(secret)}, auth.ClusterOptions{})
		require.NoError(t, err)
		return c
	}
	ours := cluster("ours")
	for name, tc := range map[string]struct {
		frontend *auth.Cluster
		wantRun  bool
	}{
		"same secret":    {frontend: ours, wantRun: true},
		"another secret": {frontend: cluster("theirs")},
		"no proof":       {frontend: nil},
	} {
		t.Run(name, func(t *testing.T) {
			fe, addr := startFrontendProving(t, tc.frontend)
			ran := make(chan struct{}, 10)
			startWorkerVerifying(t, addr, "q1", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				ran <- struct{}{}
				_, _ = io.WriteString(w, "secret data")
			}), ours)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			got := query(fe, ctx, "a")
			if tc.wantRun {
				require.Equal(t, "secret data", got.Body.String())
				return
			}
			require.NotEqual(t, http.StatusOK, got.Code)
			require.Empty(t, ran, "the handler ran a query for an unproven frontend")
		})
	}
}

// A querier that stops (SIGTERM) answers the query it is running before it
// closes its streams.
func TestStoppingWorkerAnswersWhatItRuns(t *testing.T) {
	fe, addr := startFrontend(t)
	started, release := make(chan struct{}), make(chan struct{})
	w, err := New(Deps{
		Config: Config{FrontendAddress: addr, Parallelism: 1}, QuerierID: "q1", MaxMessageSize: 16 << 20,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			close(started)
			<-release
			_, _ = io.WriteString(rw, "answered")
		}),
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	m := services.NewManager(slog.New(slog.DiscardHandler), w.Service())
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- m.Run(ctx, 10*time.Second) }()
	result := make(chan *httptest.ResponseRecorder, 1)
	go func() { result <- query(fe, context.Background(), "a") }()
	<-started
	cancel() // SIGTERM
	close(release)
	got := <-result
	require.Equal(t, http.StatusOK, got.Code)
	require.Equal(t, "answered", got.Body.String())
	require.NoError(t, <-stopped)
	require.InDelta(t, 0, testutil.ToFloat64(w.streams), 0, "every stream closed")
}
