package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"cloud.google.com/go/bigtable/bttest"
	"github.com/golang/snappy"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
)

// bigtableEmulator starts an in-process Bigtable emulator for the test and
// points every process of the test at it through BIGTABLE_EMULATOR_HOST.
func bigtableEmulator(t *testing.T) {
	t.Helper()
	srv, err := bttest.NewServer("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	t.Setenv("BIGTABLE_EMULATOR_HOST", srv.Addr)
}

// clusterStoreFlags points a cluster component at the emulator's table.
var clusterStoreFlags = []string{
	"-store.backend=bigtable",
	"-store.bigtable.project=hearth-test",
	"-store.bigtable.instance=hearth-test",
	"-store.bigtable.create-table=true",
}

// testProcess is one App running in the test process, as a binary would.
type testProcess struct {
	app  *App
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

// startProcess builds and runs an App with the given flags, on loopback
// with free ports, and waits until it is ready.
func startProcess(t *testing.T, target string, extra ...string) *testProcess {
	t.Helper()
	args := append([]string{
		"-target=" + target,
		"-storage.dir=" + t.TempDir(),
		"-server.http-listen-address=127.0.0.1:0",
		"-server.grpc-listen-address=127.0.0.1:0",
		"-server.internal-listen-address=127.0.0.1:0",
		"-memberlist.bind-addr=127.0.0.1",
		"-memberlist.bind-port=0",
		"-memberlist.gossip-interval=50ms",
		"-memberlist.push-pull-interval=1s",
		"-ingester.ring.heartbeat-period=500ms",
		"-ingester-client.health-check-period=500ms",
		"-server.graceful-shutdown-timeout=5s",
		"-log.level=warn",
		// Authentication has its own tests; these name the tenant by header.
		"-auth.mode=trust-header",
		"-auth.cluster-secret=cluster-test-secret",
	}, extra...)
	if target != TargetAll {
		args = append(args, clusterStoreFlags...)
	}
	cfg, explicit, err := ParseArgs(args, TargetAll, io.Discard)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	a, err := New(cfg, explicit, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p := &testProcess{app: a, reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	t.Cleanup(p.shutdown)
	require.Eventually(t, a.Ready, 20*time.Second, 10*time.Millisecond, "%s never became ready", target)
	return p
}

// shutdown stops the process and waits for it; it may be called twice.
func (p *testProcess) shutdown() {
	p.stop()
	if p.done != nil {
		<-p.done
		p.done = nil
	}
}

func (p *testProcess) memberlistAddr() string { return p.app.memberlist.Addr() }

// ingestedSamples reads one ingester's count of samples stored for tenant.
func (p *testProcess) ingestedSamples(t *testing.T, tenant string) float64 {
	t.Helper()
	mfs, err := p.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "hearth_ingester_ingested_samples_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenant {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// pusher sends remote-write 1.0 requests with Prometheus's own client.
type pusher struct {
	client remote.WriteClient
}

func newPusher(t *testing.T, httpAddr, tenantID string) *pusher {
	t.Helper()
	u, err := url.Parse("http://" + httpAddr + "/api/v1/push")
	require.NoError(t, err)
	c, err := remote.NewWriteClient("test", &remote.ClientConfig{
		URL:              &config_util.URL{URL: u},
		Timeout:          model.Duration(10 * time.Second),
		Headers:          map[string]string{"X-Scope-OrgID": tenantID},
		HTTPClientConfig: config_util.DefaultHTTPClientConfig,
	})
	require.NoError(t, err)
	return &pusher{client: c}
}

func (p *pusher) push(ctx context.Context, series int, ts time.Time, value float64) error {
	req := prompb.WriteRequest{}
	for i := range series {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "test_metric"},
				{Name: "instance", Value: fmt.Sprintf("host-%d", i)},
				{Name: "job", Value: "integration"},
			},
			Samples: []prompb.Sample{{Value: value, Timestamp: ts.UnixMilli()}},
		})
	}
	raw, err := req.Marshal()
	if err != nil {
		return err
	}
	_, err = p.client.Store(ctx, snappy.Encode(nil, raw), 0)
	return err
}

// tenantRoundTripper names the tenant on every query.
type tenantRoundTripper struct{ tenant string }

func (rt tenantRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Scope-OrgID", rt.tenant)
	return http.DefaultTransport.RoundTrip(r)
}

func queryAPI(t *testing.T, httpAddr, tenantID string) promv1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{
		Address:      "http://" + httpAddr + "/prometheus",
		RoundTripper: tenantRoundTripper{tenant: tenantID},
	})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

// TestClusterReplicatesAndToleratesOneIngesterDown runs one distributor and
// querier and three ingesters, each with its own memberlist on loopback,
// and pushes with Prometheus's remote-write client.
func TestClusterReplicatesAndToleratesOneIngesterDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes' worth of components")
	}
	bigtableEmulator(t)
	// Instance IDs default to the hostname, which the three share here.
	first := startProcess(t, TargetIngester, "-ingester.ring.instance-id=ingester-0")
	join := "-memberlist.join=" + first.memberlistAddr()
	ingesters := []*testProcess{
		first,
		startProcess(t, TargetIngester, join, "-ingester.ring.instance-id=ingester-1"),
		startProcess(t, TargetIngester, join, "-ingester.ring.instance-id=ingester-2"),
	}
	front := startProcess(t, TargetDistributor+","+TargetQuerier, join)
	require.Eventually(t, func() bool {
		return front.app.ingesterRing.HealthyInstancesCount() == 3
	}, 20*time.Second, 20*time.Millisecond, "the distributor never saw three ingesters")

	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	const series = 20

	// Every sample lands on all three ingesters.
	p := newPusher(t, front.app.HTTPAddr(), "team-a")
	require.NoError(t, p.push(ctx, series, now.Add(-3*time.Second), 1))
	for i, ing := range ingesters {
		require.Eventuallyf(t, func() bool { return ing.ingestedSamples(t, "team-a") == series },
			10*time.Second, 10*time.Millisecond, "ingester %d has %v samples, want %d", i, ing.ingestedSamples(t, "team-a"), series)
	}

	// Two tenants pushing identical series keep separate data.
	require.NoError(t, newPusher(t, front.app.HTTPAddr(), "team-b").push(ctx, series, now.Add(-3*time.Second), 2))
	for tenantID, want := range map[string]float64{"team-a": 1 * series, "team-b": 2 * series} {
		res, _, _, err := queryAPI(t, front.app.HTTPAddr(), tenantID).Query(ctx, "sum(test_metric)", now)
		require.NoError(t, err)
		vec, ok := res.(model.Vector)
		require.True(t, ok, "%T", res)
		require.Len(t, vec, 1)
		require.InDelta(t, want, float64(vec[0].Value), 1e-9, "tenant %s", tenantID)
	}

	// One ingester down: pushes and queries still succeed.
	ingesters[2].shutdown()
	require.NoError(t, p.push(ctx, series, now.Add(-2*time.Second), 3))
	res, _, _, err := queryAPI(t, front.app.HTTPAddr(), "team-a").Query(ctx, "count(test_metric == 3)", now)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(series), res.(model.Vector)[0].Value)

	// Two ingesters down: no quorum, a retryable 5xx.
	ingesters[1].shutdown()
	require.Eventually(t, func() bool {
		err := p.push(ctx, series, now.Add(-1*time.Second), 4)
		var recoverable remote.RecoverableError
		return errors.As(err, &recoverable)
	}, 10*time.Second, 50*time.Millisecond, "pushes with two of three ingesters down must get a 5xx")
}
