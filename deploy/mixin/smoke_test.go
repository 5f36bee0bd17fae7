package mixin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigtable/bttest"
	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/app"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulestore"
	widebigtable "github.com/hearthmetrics/hearth/pkg/widecolumn/bigtable"
)

// TestEveryMetricExists runs an all-in-one in this process, pushes a
// little (valid and invalid), queries a little (within and beyond a limit),
// flushes to the store, and then checks every metric a dashboard or rule
// reads is on the operator listener's /metrics, or registered (a vector
// that this short run gave no labelled child yet: the failure counters), or
// a recording rule of the mixin, or in notYetInHearth. A typo in a
// dashboard fails here instead of showing "No data".
func TestEveryMetricExists(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Hearth process")
	}
	dir := t.TempDir()
	// Bigtable (the emulator in this process), as a cluster runs: the
	// store's Bigtable metrics exist only with it.
	srv, err := bttest.NewServer("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	t.Setenv("BIGTABLE_EMULATOR_HOST", srv.Addr)
	overrides := filepath.Join(dir, "overrides.yaml")
	require.NoError(t, os.WriteFile(overrides, []byte("overrides:\n  tenant-a:\n    max_series_per_tenant: 1000\n  hearth-self:\n    max_query_length: 0\n    max_label_names_per_series: 30\n"), 0o600))
	cfg, explicit, err := app.ParseArgs([]string{
		"-storage.dir=" + dir,
		"-server.http-listen-address=127.0.0.1:0",
		"-server.grpc-listen-address=127.0.0.1:0",
		"-server.internal-listen-address=127.0.0.1:0",
		"-memberlist.bind-addr=127.0.0.1",
		"-memberlist.bind-port=0",
		"-server.graceful-shutdown-timeout=5s",
		"-log.level=warn",
		"-auth.mode=trust-header",
		"-runtime-config.file=" + overrides,
		"-validation.max-label-names-per-series=5",
		"-querier.max-query-length=1h",
		"-querier.query-store-after=0",
		"-ingester.instance-limits.max-series=100000",
		"-store.backend=bigtable",
		"-store.bigtable.project=hearth-test",
		"-store.bigtable.instance=hearth-test",
		"-store.bigtable.create-table=true",
		"-distributor.ha-tracker.enable",
		"-distributor.accept-ha-samples",
		"-self-monitoring.interval=100ms",
		"-ruler.poll-interval=100ms",
		"-ruler.ring-check-period=100ms",
		"-ruler.ring.heartbeat-period=100ms",
		"-ruler.alertmanager-url=http://127.0.0.1:1",
	}, app.TargetAll, io.Discard)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	a, err := app.New(cfg, explicit, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, a.Ready, 30*time.Second, 10*time.Millisecond)

	now := time.Now()
	// Valid series, and one with too many labels (discarded).
	push(t, a.HTTPAddr(), "tenant-a", now, 20, 3, nil)
	push(t, a.HTTPAddr(), "tenant-a", now, 1, 7, nil)
	// An HA pair: the second replica's samples are deduplicated.
	push(t, a.HTTPAddr(), "tenant-a", now, 1, 2, []prompb.Label{{Name: "cluster", Value: "c"}, {Name: "__replica__", Value: "r1"}})
	push(t, a.HTTPAddr(), "tenant-a", now, 1, 2, []prompb.Label{{Name: "cluster", Value: "c"}, {Name: "__replica__", Value: "r2"}})
	for _, q := range []string{
		"/prometheus/api/v1/query?query=sum(smoke_metric)",
		fmt.Sprintf("/prometheus/api/v1/query_range?query=smoke_metric&start=%d&end=%d&step=15", now.Add(-30*time.Minute).Unix(), now.Unix()),
		fmt.Sprintf("/prometheus/api/v1/query_range?query=smoke_metric&start=%d&end=%d&step=60", now.Add(-3*time.Hour).Unix(), now.Unix()), // beyond max-query-length
		"/prometheus/api/v1/series?match[]=smoke_metric",
		"/prometheus/api/v1/labels",
	} {
		get(t, "http://"+a.HTTPAddr()+q, map[string]string{"X-Scope-OrgID": "tenant-a"})
	}
	// A rule group evaluated every second, with an alert that fires (its
	// notification fails: no Alertmanager listens), for the ruler's
	// metrics. Written to the rule store as the rules API does; the ruler
	// picks it up at its next poll.
	backendOpts := widebigtable.DefaultOptions()
	backendOpts.Project, backendOpts.Instance, backendOpts.Table = "hearth-test", "hearth-test", cfg.Store.Bigtable.Table
	backend, err := widebigtable.New(context.Background(), backendOpts, nil, nil)
	require.NoError(t, err)
	defer backend.Close()
	var group rulefmt.RuleGroups
	require.NoError(t, yaml.Unmarshal([]byte("groups:\n  - name: smoke\n    interval: 1s\n    rules:\n      - record: smoke:sum\n        expr: sum(smoke_metric)\n      - alert: SmokeAlert\n        expr: vector(1)\n"), &group))
	require.NoError(t, rulestore.New(backend).SetGroup(context.Background(), "tenant-a", "smoke", group.Groups[0]))
	require.Eventually(t, func() bool {
		return strings.Contains(get(t, "http://"+a.InternalAddr()+"/metrics", nil), "prometheus_notifications_sent_total{")
	}, 30*time.Second, 50*time.Millisecond, "the ruler never evaluated the smoke group")

	token, err := os.ReadFile(filepath.Join(dir, "operator-token"))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+a.InternalAddr()+"/ingester/flush", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	// A query over flushed data reads the store.
	get(t, "http://"+a.HTTPAddr()+"/prometheus/api/v1/query?query=count(smoke_metric)", map[string]string{"X-Scope-OrgID": "tenant-a"})

	// Every rule and dashboard query runs without an error over the process's own metrics
	// (self-monitoring writes them into hearth-self): a many-to-many match
	// or a wrong vector/scalar mix fails only at evaluation.
	self := map[string]string{"X-Scope-OrgID": "hearth-self"}
	require.Eventually(t, func() bool {
		return strings.Contains(get(t, "http://"+a.HTTPAddr()+"/prometheus/api/v1/query?query=count_over_time(hearth_build_info[1m])>2", self), `"result":[{`)
	}, 30*time.Second, 50*time.Millisecond, "self-monitoring wrote nothing into hearth-self")
	for f, groups := range ruleFiles(t) {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				body := get(t, "http://"+a.HTTPAddr()+"/prometheus/api/v1/query?query="+url.QueryEscape(r.Expr), self)
				require.Containsf(t, body, `"status":"success"`, "%s: %s%s: %s", f, r.Record, r.Alert, body)
			}
		}
	}
	exprs, withData := dashboardExprs(t), 0
	var empty []string
	for _, e := range exprs {
		body := get(t, "http://"+a.HTTPAddr()+"/prometheus/api/v1/query?query="+url.QueryEscape(e.name), self)
		require.Containsf(t, body, `"status":"success"`, "%s: %s: %s", e.where, e.name, body)
		if strings.Contains(body, `"result":[{`) {
			withData++
		} else {
			empty = append(empty, e.where)
		}
	}
	t.Logf("%d of %d dashboard queries have data after the smoke run; empty: %s", withData, len(exprs), strings.Join(empty, "; "))

	exposed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(get(t, "http://"+a.InternalAddr()+"/metrics", nil), -1) {
		exposed[m[1]] = true
	}
	registered := map[string]bool{}
	descs := make(chan *prometheus.Desc)
	go func() { reg.Describe(descs); close(descs) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			registered[m[1]] = true
		}
	}

	used, recorded := usedMetrics(t)
	var missing, onlyRegistered []string
	seen := map[string]bool{}
	for _, u := range used {
		name := u.name
		if seen[name] {
			continue
		}
		seen[name] = true
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && (exposed[b] || registered[b] || notYetInHearth[b] != "") {
				base = b
			}
		}
		switch {
		case exposed[base] || recorded[name] || notYetInHearth[base] != "":
		case registered[base]:
			onlyRegistered = append(onlyRegistered, base)
		default:
			missing = append(missing, fmt.Sprintf("%s (%s)", name, u.where))
		}
	}
	sort.Strings(onlyRegistered)
	t.Logf("registered, not yet exposed after the smoke run (vectors without a child): %s", strings.Join(onlyRegistered, ", "))
	require.Empty(t, missing, "metrics used by the mixin that Hearth does not export")
	for name := range notYetInHearth {
		require.Falsef(t, exposed[name] || registered[name], "%s is exported now: remove it from notYetInHearth", name)
	}
}

// push sends series of one sample each with labels labels (the name
// included) and extra over remote write 1.0.
func push(t *testing.T, addr, tenantID string, ts time.Time, series, labels int, extra []prompb.Label) {
	t.Helper()
	var req prompb.WriteRequest
	for i := range series {
		ls := []prompb.Label{{Name: "__name__", Value: "smoke_metric"}, {Name: "instance", Value: fmt.Sprintf("host-%d", i)}}
		for j := 2; j < labels; j++ {
			ls = append(ls, prompb.Label{Name: fmt.Sprintf("l%d", j), Value: "v"})
		}
		ls = append(ls, extra...)
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: 1, Timestamp: ts.UnixMilli()}}})
	}
	raw, err := req.Marshal()
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodPost, (&url.URL{Scheme: "http", Host: addr, Path: "/api/v1/push"}).String(), bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	r.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Less(t, resp.StatusCode, 500)
}

// get returns the body of a GET; any status is fine (the smoke run asks
// for some refusals on purpose).
func get(t *testing.T, u string, headers map[string]string) string {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}
