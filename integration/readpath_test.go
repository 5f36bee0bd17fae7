//go:build integration

package integration

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang/snappy"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
)

const tenantHeader = "X-Scope-OrgID"

// cluster is a distributor, three ingesters and a querier, each its own
// process, joined by memberlist on loopback, with a Bigtable emulator.
type cluster struct {
	emulator    *emulator
	distributor *process
	ingesters   []*process
	querier     *process
}

// clusterOptions change the cluster startClusterWith starts.
type clusterOptions struct {
	extra         []string  // flags of every process
	ingesterExtra []string  // flags of the ingesters only
	emulator      *emulator // nil: a new one
	// ingesterStore is the ingesters' BIGTABLE_EMULATOR_HOST (a proxy in
	// front of the emulator, say); "": the emulator's address.
	ingesterStore string
}

func startCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	return startClusterWith(t, clusterOptions{extra: extra})
}

func startClusterWith(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{emulator: o.emulator}
	if c.emulator == nil {
		c.emulator = startEmulator(t)
	}
	em := c.emulator
	var seed string
	common := append(em.storeFlags(), o.extra...)
	newComponent := func(name, bin, store string, args ...string) *process {
		p := newProcess(t, name, bin, t.TempDir(), append(args, common...)...)
		p.env = []string{"BIGTABLE_EMULATOR_HOST=" + store}
		return p
	}
	ingesterStore := o.ingesterStore
	if ingesterStore == "" {
		ingesterStore = em.addr
	}
	for i := range 3 {
		args := append([]string{"-target=ingester"}, o.ingesterExtra...)
		if seed != "" {
			args = append(args, "-memberlist.join="+seed)
		}
		p := newComponent(fmt.Sprintf("ingester-%d", i), "ingester", ingesterStore, args...)
		if seed == "" {
			seed = p.gossip
		}
		p.start(t)
		c.ingesters = append(c.ingesters, p)
	}
	c.distributor = newComponent("distributor", "distributor", em.addr, "-memberlist.join="+seed)
	c.querier = newComponent("querier", "querier", em.addr, "-memberlist.join="+seed)
	c.distributor.start(t)
	c.querier.start(t)
	for _, p := range append([]*process{c.distributor, c.querier}, c.ingesters...) {
		p.waitReady(t)
	}
	c.waitActiveIngesters(t, 3)
	return c
}

// waitActiveIngesters waits until the distributor and the querier see n
// ACTIVE ingesters in the ring.
func (c *cluster) waitActiveIngesters(t *testing.T, n int) {
	t.Helper()
	for _, p := range []*process{c.distributor, c.querier} {
		require.Eventuallyf(t, func() bool {
			return p.metric(t, "hearth_ring_members", `name="ingester"`, `state="ACTIVE"`) == float64(n)
		}, 30*time.Second, 50*time.Millisecond, "%s never saw %d ACTIVE ingesters", p.name, n)
	}
}

// dataset is what the test pushes: counters and gauges, 15 s apart.
type dataset struct {
	series []labels.Labels
	start  time.Time
	step   time.Duration
	points int
}

func (d dataset) value(series, point int) float64 {
	if series%2 == 0 { // a counter with a reset in the middle
		v := float64(point * (series + 1))
		if point > d.points/2 {
			v = float64((point - d.points/2) * (series + 1))
		}
		return v
	}
	return math.Sin(float64(point)/10) * float64(series) // a gauge
}

func newDataset(now time.Time) dataset {
	d := dataset{start: now.Add(-time.Hour).Truncate(time.Minute), step: 15 * time.Second, points: 240}
	for i := range 30 {
		name := "e2e_requests_total"
		if i%2 == 1 {
			name = "e2e_temperature"
		}
		d.series = append(d.series, labels.FromStrings(
			"__name__", name,
			"instance", fmt.Sprintf("host-%02d", i),
			"job", []string{"api", "db", "web"}[i%3],
		))
	}
	return d
}

// push sends the dataset through the distributor with Prometheus's own
// remote-write client, a few minutes of samples per request.
func (d dataset) push(t *testing.T, addr, tenantID string) {
	t.Helper()
	u, err := url.Parse("http://" + addr + "/api/v1/push")
	require.NoError(t, err)
	client, err := remote.NewWriteClient("e2e", &remote.ClientConfig{
		URL:              &config_util.URL{URL: u},
		Timeout:          model.Duration(10 * time.Second),
		Headers:          map[string]string{tenantHeader: tenantID},
		HTTPClientConfig: config_util.DefaultHTTPClientConfig,
	})
	require.NoError(t, err)
	const perRequest = 20
	for from := 0; from < d.points; from += perRequest {
		var req prompb.WriteRequest
		for s, lset := range d.series {
			ts := prompb.TimeSeries{}
			lset.Range(func(l labels.Label) { ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value}) })
			for p := from; p < min(from+perRequest, d.points); p++ {
				ts.Samples = append(ts.Samples, prompb.Sample{Value: d.value(s, p), Timestamp: d.start.Add(time.Duration(p) * d.step).UnixMilli()})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		raw, err := req.Marshal()
		require.NoError(t, err)
		_, err = client.Store(context.Background(), snappy.Encode(nil, raw), 0)
		require.NoError(t, err)
	}
}

// reference loads the dataset into a local Prometheus storage.
func (d dataset) reference(t *testing.T) storage.Storage {
	t.Helper()
	st := teststorage.New(t)
	app := st.Appender(context.Background())
	for s, lset := range d.series {
		for p := range d.points {
			_, err := app.Append(0, lset, d.start.Add(time.Duration(p)*d.step).UnixMilli(), d.value(s, p))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	return st
}

var rangeQueries = []string{
	`e2e_requests_total`,
	`rate(e2e_requests_total[5m])`,
	`sum by (job) (rate(e2e_requests_total[5m]))`,
	`avg_over_time(e2e_temperature[10m])`,
	`max by (job) (e2e_temperature) - min by (job) (e2e_temperature)`,
	`topk(3, e2e_temperature)`,
	`count by (__name__) ({job="api"})`,
	`histogram_quantile(0.9, sum by (le) (rate(e2e_requests_total[5m])))`,
}

type tenantTransport struct{ tenant string }

func (tt tenantTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(tenantHeader, tt.tenant)
	return http.DefaultTransport.RoundTrip(r)
}

func apiClient(t *testing.T, addr, tenantID string) promv1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: "http://" + addr + "/prometheus", RoundTripper: tenantTransport{tenant: tenantID}})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

// requireSameAsReference runs every range query on Hearth and on the
// Prometheus engine over the reference storage and compares the results.
func requireSameAsReference(t *testing.T, api promv1.API, ref storage.Storage, d dataset) {
	t.Helper()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true})
	r := promv1.Range{Start: d.start.Add(10 * time.Minute), End: d.start.Add(time.Duration(d.points-1) * d.step), Step: 15 * time.Second}
	for _, q := range rangeQueries {
		got, _, _, err := api.QueryRange(context.Background(), q, r)
		require.NoError(t, err, q)
		rq, err := engine.NewRangeQuery(context.Background(), ref, nil, q, r.Start, r.End, r.Step)
		require.NoError(t, err, q)
		res := rq.Exec(context.Background())
		require.NoError(t, res.Err, q)
		want := res.Value.(promql.Matrix)
		gotM, ok := got.(model.Matrix)
		require.True(t, ok, "%s: %T", q, got)
		require.Lenf(t, gotM, len(want), "%s: series count", q)
		for i := range want {
			require.Equal(t, want[i].Metric.String(), labelsOf(gotM[i].Metric).String(), q)
			require.Lenf(t, gotM[i].Values, len(want[i].Floats), "%s %s: points", q, want[i].Metric)
			for j, p := range want[i].Floats {
				require.Equal(t, p.T, int64(gotM[i].Values[j].Timestamp), q)
				if math.IsNaN(p.F) {
					require.True(t, math.IsNaN(float64(gotM[i].Values[j].Value)), q)
					continue
				}
				require.InDeltaf(t, p.F, float64(gotM[i].Values[j].Value), 1e-9*math.Max(1, math.Abs(p.F)), "%s %s at %d", q, want[i].Metric, p.T)
			}
		}
		rq.Close()
	}
}

func labelsOf(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m))
	for k, v := range m {
		b.Add(string(k), string(v))
	}
	b.Sort()
	return b.Labels()
}

// TestReadPathAcrossProcesses pushes through a distributor into three
// ingesters, queries through a querier and compares with Prometheus's
// engine over the same samples; then kills one ingester with SIGKILL and
// checks answers are still complete and correct.
func TestReadPathAcrossProcesses(t *testing.T) {
	c := startCluster(t)
	d := newDataset(time.Now())
	d.push(t, c.distributor.httpAddr, "team-a")
	ref := d.reference(t)

	api := apiClient(t, c.querier.httpAddr, "team-a")
	requireSameAsReference(t, api, ref, d)

	// Another tenant sees nothing of team-a's.
	res, _, _, err := apiClient(t, c.querier.httpAddr, "team-b").Query(context.Background(), `count({__name__=~"e2e_.*"})`, time.Now())
	require.NoError(t, err)
	require.Empty(t, res.(model.Vector))

	c.ingesters[1].kill(t)
	requireSameAsReference(t, api, ref, d)

	// SIGTERM stops every process cleanly (exit code 0).
	for _, p := range []*process{c.querier, c.distributor, c.ingesters[0], c.ingesters[2]} {
		p.terminate(t)
	}
}
