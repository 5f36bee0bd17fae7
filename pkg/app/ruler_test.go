package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/ruler"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

var rulerTestFlags = []string{
	"-ruler.poll-interval=200ms",
	"-ruler.ring-check-period=200ms",
	"-ruler.ring.heartbeat-period=200ms",
	"-ruler.resend-delay=200ms",
	"-ruler.min-evaluation-interval=0",
}

// setRules posts a rule file's groups for a tenant through the rules
// configuration API.
func setRules(t *testing.T, p *testProcess, tn tenant.ID, namespace, file string) {
	t.Helper()
	var rgs rulefmt.RuleGroups
	require.NoError(t, yaml.Unmarshal([]byte(file), &rgs))
	for _, g := range rgs.Groups {
		body, err := yaml.Marshal(g)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, "http://"+p.app.HTTPAddr()+"/prometheus/config/v1/rules/"+url.PathEscape(namespace), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(tenant.Header, string(tn))
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(msg))
	}
}

// ruleGroups reads /prometheus/api/v1/rules as the tenant.
func ruleGroups(t *testing.T, p *testProcess, tn, query string) []ruler.GroupState {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.app.HTTPAddr()+"/prometheus/api/v1/rules"+query, nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, tn)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var res struct {
		Data struct {
			Groups []ruler.GroupState `json:"groups"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &res))
	return res.Data.Groups
}

// counterData is n counters x{job="api",i=...} rising by i+1 per 15s over
// the last 4 minutes.
func counterData(n int, now time.Time, scale float64) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for i := range n {
		ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "x"}, {Name: "i", Value: fmt.Sprint(i)}, {Name: "job", Value: "api"}}}
		for k := range 17 {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: scale * float64(k*(i+1)), Timestamp: now.Add(time.Duration(k-16) * 15 * time.Second).UnixMilli()})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	return req
}

// TestAllInOneRecordingRules runs the all-in-one's ruler: a recording
// rule's results are the tenant's series and equal what Prometheus's rule
// evaluates over the same data; another tenant neither sees them nor
// feeds them; the state API shows the group to its tenant only.
func TestAllInOneRecordingRules(t *testing.T) {
	p := startProcess(t, TargetAll, rulerTestFlags...)
	now := time.Now().Truncate(time.Second)
	reqA := counterData(3, now, 1)
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-a", reqA).StatusCode)
	// team-b's identical series, ten times larger, must not leak in.
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-b", counterData(3, now, 10)).StatusCode)

	const expr = `sum by (job) (rate(x[5m]))`
	setRules(t, p, "team-a", "ns", `
groups:
- name: g
  interval: 1s
  rules:
  - record: job:x:rate5m
    expr: `+expr+`
`)
	ctx := context.Background()
	api := queryAPI(t, p.app.HTTPAddr(), "team-a")
	var got model.Matrix
	require.Eventually(t, func() bool {
		// The raw samples, at the rule's evaluation times.
		v, _, _, err := api.Query(ctx, "job:x:rate5m[1m]", time.Now())
		if err != nil {
			return false
		}
		got = v.(model.Matrix)
		return len(got) == 1 && len(got[0].Values) >= 2
	}, 20*time.Second, 100*time.Millisecond)

	// Prometheus's recording rule over the same data, at the same times.
	db := teststorage.New(t)
	app := db.Appender(ctx)
	for _, ts := range reqA.Timeseries {
		b := labels.NewScratchBuilder(len(ts.Labels))
		for _, l := range ts.Labels {
			b.Add(l.Name, l.Value)
		}
		for _, s := range ts.Samples {
			_, err := app.Append(0, b.Labels(), s.Timestamp, s.Value)
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err)
	rule := rules.NewRecordingRule("job:x:rate5m", parsed, labels.EmptyLabels())
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, s := range got[0].Values {
		want, err := rule.Eval(ctx, 0, s.Timestamp.Time(), rules.EngineQueryFunc(engine, db), nil, 0)
		require.NoError(t, err)
		require.Len(t, want, 1)
		require.InDelta(t, want[0].F, float64(s.Value), 1e-9, "at %s", s.Timestamp.Time())
	}
	require.Equal(t, "api", string(got[0].Metric["job"]))

	// team-b has no recorded series and sees no group.
	v, _, _, err := queryAPI(t, p.app.HTTPAddr(), "team-b").Query(ctx, "job:x:rate5m", time.Now())
	require.NoError(t, err)
	require.Empty(t, v.(model.Vector))
	require.Empty(t, ruleGroups(t, p, "team-b", ""))
	groups := ruleGroups(t, p, "team-a", "?type=record")
	require.Len(t, groups, 1)
	require.Equal(t, "ok", groups[0].Rules[0].Health)
	require.Empty(t, ruleGroups(t, p, "team-a", "?type=alert"))
}

// TestAllInOneRuleOverSeriesLimitFailsVisibly: a rule whose results would
// exceed the tenant's series limit shows the refusal in lastError and in
// prometheus_rule_evaluation_failures_total.
func TestAllInOneRuleOverSeriesLimitFailsVisibly(t *testing.T) {
	p := startProcess(t, TargetAll, append(rulerTestFlags, "-ingester.max-series-per-tenant=4")...)
	now := time.Now().Truncate(time.Second)
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-c", counterData(3, now, 1)).StatusCode)
	setRules(t, p, "team-c", "ns", `
groups:
- name: doubled
  interval: 1s
  rules:
  - record: x:doubled
    expr: x * 2
`)
	require.Eventually(t, func() bool {
		groups := ruleGroups(t, p, "team-c", "")
		return len(groups) == 1 && groups[0].Rules[0].Health == "err" && groups[0].Rules[0].LastError != ""
	}, 20*time.Second, 100*time.Millisecond)
	groups := ruleGroups(t, p, "team-c", "")
	require.Contains(t, groups[0].Rules[0].LastError, "series")
	require.Positive(t, gatherSum(t, p, "prometheus_rule_evaluation_failures_total"))
}
