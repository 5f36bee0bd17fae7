//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/auth/cli"
)

// prometheusVersion is the Prometheus the tests run: the module version
// in go.mod, as scripts/bench/bench.sh installs it.
const prometheusVersion = "v0.316.0"

var (
	promOnce sync.Once
	promBin  string
	promErr  error
)

// prometheusBinary returns a Prometheus server binary: $HEARTH_PROMETHEUS
// when set, else .cache/bench/bin/prometheus of the repository, installed
// there through the Go module proxy when missing (as bench.sh does; a few
// minutes the first time).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	promOnce.Do(func() {
		if p := os.Getenv("HEARTH_PROMETHEUS"); p != "" {
			promBin = p
			return
		}
		dir, err := filepath.Abs("../.cache/bench/bin")
		if err != nil {
			promErr = err
			return
		}
		promBin = filepath.Join(dir, "prometheus")
		if _, err := os.Stat(promBin); err == nil {
			return
		}
		t.Logf("installing Prometheus %s into %s", prometheusVersion, dir)
		cmd := exec.Command("go", "install", "github.com/prometheus/prometheus/cmd/prometheus@"+prometheusVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			promErr = fmt.Errorf("installing Prometheus: %w\n%s", err, out)
		}
	})
	require.NoError(t, promErr)
	return promBin
}

// startPrometheus runs a Prometheus server with the given configuration
// and returns its address once it is ready.
func startPrometheus(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(prometheusBinary(t), "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, logs}, lockedWriter{&mu, logs}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("--- logs of prometheus ---\n%s", logs)
			mu.Unlock()
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "prometheus never became ready")
	return addr
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type basicAuthTransport struct{ user, pass string }

func (b basicAuthTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return http.DefaultTransport.RoundTrip(r)
}

func promClient(t *testing.T, base string, rt http.RoundTripper) promv1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: base, RoundTripper: rt})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

// pushSeries remote-writes, with Basic auth, n series of metric name with
// extra labels, one sample every 15s over the 30 minutes before end.
func pushSeries(t *testing.T, addr, tenantID, key, name string, n int, end time.Time, extra ...prompb.Label) {
	t.Helper()
	var req prompb.WriteRequest
	for i := range n {
		ls := append([]prompb.Label{{Name: "__name__", Value: name}, {Name: "instance", Value: fmt.Sprint("i", i)}, {Name: "job", Value: "pushed"}}, extra...)
		sort.Slice(ls, func(a, b int) bool { return ls[a].Name < ls[b].Name })
		ts := prompb.TimeSeries{Labels: ls}
		for at, k := end.Add(-30*time.Minute), 0; !at.After(end); at, k = at.Add(15*time.Second), k+1 {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: at.UnixMilli(), Value: float64(k*(i+1)) + 0.5})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	raw, err := req.Marshal()
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/push", bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	r.SetBasicAuth(tenantID, key)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", b)
}

// startKeyedAllInOne runs the all-in-one with API keys and returns it
// with a write+read key of team-a.
func startKeyedAllInOne(t *testing.T) (*process, string) {
	t.Helper()
	p := newProcess(t, "all-in-one", "hearth", t.TempDir(), "-target=all", "-auth.mode=api-keys")
	p.start(t)
	p.waitReady(t)
	var out, errOut bytes.Buffer
	code := cli.Run([]string{"create", "--tenant", "team-a", "--scope", "write,read",
		"--addr", "http://" + p.internal, "--token-file", filepath.Join(p.dataDir, "operator-token")}, &out, &errOut)
	require.Zero(t, code, errOut.String())
	return p, strings.TrimSpace(out.String())
}

// TestPrometheusReadsAndFederatesFromHearth runs a real Prometheus
// against an all-in-one with API keys: its remote_read answers PromQL over
// Hearth's data exactly as Hearth's own API does, and it scrapes the
// tenant's /prometheus/federate with honor_labels and stores what it gets.
func TestPrometheusReadsAndFederatesFromHearth(t *testing.T) {
	p, key := startKeyedAllInOne(t)
	end := time.Now().Truncate(time.Second)
	pushSeries(t, p.httpAddr, "team-a", key, "e2e_read", 3, end, prompb.Label{Name: "source", Value: "hearth"})
	pushSeries(t, p.httpAddr, "team-a", key, "e2e_federated", 3, end)

	hearthURL := "http://" + p.httpAddr
	promAddr := startPrometheus(t, fmt.Sprintf(`
global:
  scrape_interval: 1s
remote_read:
  - url: %[1]s/prometheus/api/v1/read
    read_recent: true
    # Only selectors with source="hearth" go to Hearth, so that what the
    # federation job stored is read from Prometheus's own TSDB.
    required_matchers: {source: hearth}
    basic_auth: {username: team-a, password: %[2]q}
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /prometheus/federate
    params:
      'match[]': ['{__name__="e2e_federated"}']
    basic_auth: {username: team-a, password: %[2]q}
    static_configs:
      - targets: [%[3]q]
`, hearthURL, key, p.httpAddr))

	hearth := promClient(t, hearthURL+"/prometheus", basicAuthTransport{"team-a", key})
	prom := promClient(t, "http://"+promAddr, http.DefaultTransport)
	ctx := context.Background()

	t.Run("remote read", func(t *testing.T) {
		for _, q := range []string{
			`e2e_read{source="hearth"}`,
			`sum by (instance) (rate(e2e_read{source="hearth"}[5m]))`,
			`max_over_time(e2e_read{source="hearth",instance="i2"}[10m])`,
		} {
			want, _, _, err := hearth.Query(ctx, q, end)
			require.NoError(t, err, q)
			got, _, _, err := prom.Query(ctx, q, end)
			require.NoError(t, err, q)
			require.NotEmpty(t, want.(model.Vector), q)
			require.Equal(t, sortedVector(want.(model.Vector)), sortedVector(got.(model.Vector)), q)

			r := promv1.Range{Start: end.Add(-20 * time.Minute), End: end, Step: 30 * time.Second}
			wantM, _, _, err := hearth.QueryRange(ctx, q, r)
			require.NoError(t, err, q)
			gotM, _, _, err := prom.QueryRange(ctx, q, r)
			require.NoError(t, err, q)
			require.Equal(t, wantM.String(), gotM.String(), q)
		}
		require.Positive(t, p.metric(t, "hearth_querier_tenant_queries_total", `tenant="team-a"`, `api="remote_read"`))
	})

	t.Run("federation", func(t *testing.T) {
		var got model.Vector
		require.Eventually(t, func() bool {
			v, _, _, err := prom.Query(ctx, `e2e_federated`, time.Now())
			if err != nil {
				return false
			}
			got = v.(model.Vector)
			return len(got) == 3
		}, 30*time.Second, 200*time.Millisecond, "the scraping Prometheus never stored the 3 federated series")
		for _, s := range sortedVector(got) {
			// honor_labels: the series' own job and instance, not the
			// scrape's (job="federate", instance=<hearth>).
			require.Equal(t, model.LabelValue("pushed"), s.Metric["job"], s.Metric)
			require.True(t, strings.HasPrefix(string(s.Metric["instance"]), "i"), s.Metric)
			require.Len(t, s.Metric, 3, s.Metric)
		}
		want, _, _, err := hearth.Query(ctx, `e2e_federated`, end)
		require.NoError(t, err)
		for i, s := range sortedVector(want.(model.Vector)) {
			require.Equal(t, s.Value, sortedVector(got)[i].Value)
		}
	})

	t.Run("bad input and authentication", func(t *testing.T) {
		get := func(path string, auth bool) (int, string) {
			req, err := http.NewRequest(http.MethodGet, hearthURL+path, nil)
			require.NoError(t, err)
			if auth {
				req.SetBasicAuth("team-a", key)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		status, body := get("/prometheus/federate", true)
		require.Equal(t, http.StatusBadRequest, status)
		require.Contains(t, body, "match[]")
		status, _ = get("/prometheus/federate?match[]="+url.QueryEscape("up"), false)
		require.Equal(t, http.StatusUnauthorized, status)
	})
}

func sortedVector(v model.Vector) model.Vector {
	sort.Slice(v, func(i, j int) bool { return v[i].Metric.String() < v[j].Metric.String() })
	return v
}
