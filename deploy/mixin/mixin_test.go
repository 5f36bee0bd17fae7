package mixin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// notYetInHearth are metrics the mixin uses that no process of this tree
// exports, each with the reason: Alertmanager's own metrics come from the
// upstream Alertmanager, never from Hearth.
var notYetInHearth = map[string]string{
	"alertmanager_alerts":                       "upstream Alertmanager",
	"alertmanager_alerts_received_total":        "upstream Alertmanager",
	"alertmanager_notifications_total":          "upstream Alertmanager",
	"alertmanager_notifications_failed_total":   "upstream Alertmanager",
	"alertmanager_notification_latency_seconds": "upstream Alertmanager",
	"alertmanager_cluster_members":              "upstream Alertmanager",
	"alertmanager_silences":                     "upstream Alertmanager",
}

// usedMetric is a metric name an expression of the mixin reads, and where.
type usedMetric struct{ name, where string }

// ruleFiles parses every rule file as `promtool check rules` does and
// returns the groups by file.
func ruleFiles(t *testing.T) map[string]*rulefmt.RuleGroups {
	t.Helper()
	files, err := filepath.Glob("rules/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]*rulefmt.RuleGroups{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
		require.Emptyf(t, errs, "%s", f)
		out[f] = groups
	}
	return out
}

// metricNames lists the metric names expr selects.
func metricNames(t *testing.T, expr, where string) []usedMetric {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoErrorf(t, err, "%s: %s", where, expr)
	var out []usedMetric
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			require.NotEmptyf(t, name, "%s: a selector without a metric name in %s", where, expr)
			out = append(out, usedMetric{name: name, where: where})
		}
		return nil
	})
	return out
}

// grafanaVars replaces the dashboard variables with values PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$tenant", "tenant-a")

// dashboardExprs returns every PromQL expression of every dashboard (panel
// targets and variable queries), by dashboard file and panel title.
func dashboardExprs(t *testing.T) []usedMetric {
	t.Helper()
	files, err := filepath.Glob("dashboards/*.json")
	require.NoError(t, err)
	var out []usedMetric
	uids := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Type    string `json:"type"`
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		require.NoErrorf(t, json.Unmarshal(data, &d), "%s", f)
		require.NotEmptyf(t, d.UID, "%s has no uid", f)
		require.Emptyf(t, uids[d.UID], "%s and %s share uid %s", f, uids[d.UID], d.UID)
		uids[d.UID] = f
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			require.NotEmptyf(t, p.Targets, "%s: panel %q has no query", f, p.Title)
			for _, tg := range p.Targets {
				out = append(out, usedMetric{name: grafanaVars.Replace(tg.Expr), where: f + ": " + p.Title})
			}
		}
		for _, v := range d.Templating.List {
			if inner, ok := strings.CutPrefix(v.Definition, "label_values("); ok {
				sel, _, _ := strings.Cut(inner, ",")
				out = append(out, usedMetric{name: sel, where: f + ": variable " + v.Name})
			}
		}
	}
	return out
}

// usedMetrics lists every metric the rules and dashboards read, and the
// names the recording rules define.
func usedMetrics(t *testing.T) (used []usedMetric, recorded map[string]bool) {
	t.Helper()
	recorded = map[string]bool{}
	for f, groups := range ruleFiles(t) {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
				used = append(used, metricNames(t, r.Expr, f+": "+r.Record+r.Alert)...)
			}
		}
	}
	for _, e := range dashboardExprs(t) {
		used = append(used, metricNames(t, e.name, e.where)...)
	}
	return used, recorded
}

func TestRulesParseAndHaveRunbooks(t *testing.T) {
	runbooks, err := os.ReadFile("../../docs/runbooks.md")
	require.NoError(t, err)
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(runbooks), "\n") {
		if title, ok := strings.CutPrefix(line, "## "); ok {
			anchors[githubAnchor(title)] = true
		}
	}
	alerts := 0
	for f, groups := range ruleFiles(t) {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				alerts++
				require.Containsf(t, []string{"warning", "critical"}, r.Labels["severity"], "%s: alert %s", f, r.Alert)
				url := r.Annotations["runbook_url"]
				_, anchor, ok := strings.Cut(url, "docs/runbooks.md#")
				require.Truef(t, ok, "%s: alert %s: runbook_url %q does not point into docs/runbooks.md", f, r.Alert, url)
				require.Equalf(t, githubAnchor(r.Alert), anchor, "%s: alert %s links to another alert's section", f, r.Alert)
				require.Truef(t, anchors[anchor], "%s: alert %s: docs/runbooks.md has no section %q", f, r.Alert, "## "+r.Alert)
			}
		}
	}
	require.GreaterOrEqual(t, alerts, 10)
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(title string) string {
	title = strings.ToLower(strings.TrimSpace(title))
	title = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(title, "")
	return strings.ReplaceAll(title, " ", "-")
}

func TestDashboardsCoverTheComponents(t *testing.T) {
	files, err := filepath.Glob("dashboards/*.json")
	require.NoError(t, err)
	for _, want := range []string{"writes", "reads", "tenants", "ingester", "ring", "ruler", "alertmanager"} {
		require.Truef(t, slices.Contains(files, "dashboards/hearth-"+want+".json"), "no dashboards/hearth-%s.json", want)
	}
	require.NotEmpty(t, dashboardExprs(t))
}
