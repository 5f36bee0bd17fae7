package configapi_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/ruler/configapi/configapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const canonical = configapitest.Prefix + "/config/v1/rules"

type client struct {
	t     *testing.T
	base  string
	token string
}

// do sends a request with path already escaped and returns the status and
// the body.
func (c client) do(method, path, body string) (int, string) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func groupYAML(name string, exprs ...string) string {
	var b strings.Builder
	b.WriteString("name: " + quote(name) + "\ninterval: 1m\nrules:\n")
	for i, e := range exprs {
		b.WriteString("  - record: job:r" + strings.Repeat("x", i) + "\n    expr: " + quote(e) + "\n")
	}
	return b.String()
}

func quote(s string) string {
	b, _ := yaml.Marshal(s)
	return strings.TrimSpace(string(b))
}

func TestRoundTripWithAwkwardNames(t *testing.T) {
	srv := configapitest.New(t, 0)
	c := client{t, srv.URL, srv.Key(t, "team-a", auth.ScopeRules)}
	namespaces := []string{"a/b c", "ünï/cødé ✓", "plain", "%2F"}
	groups := []string{"g/1 x", "ü", "a%b"}
	roots := []string{canonical, "/api/v1/rules", "/api/prom/rules"}
	for i, ns := range namespaces {
		for _, g := range groups {
			// Writes go through every root.
			status, body := c.do(http.MethodPost, roots[i%3]+"/"+url.PathEscape(ns), groupYAML(g, "sum by (job) (rate(x[5m]))"))
			require.Equal(t, http.StatusAccepted, status, body)
			require.JSONEq(t, `{"status":"success"}`, body)
		}
	}
	require.Equal(t, len(namespaces)*len(groups), srv.Changes("team-a"))

	for _, root := range roots {
		status, body := c.do(http.MethodGet, root, "")
		require.Equal(t, http.StatusOK, status, body)
		var all map[string][]rulefmt.RuleGroup
		require.NoError(t, yaml.Unmarshal([]byte(body), &all))
		require.Len(t, all, len(namespaces))
		for _, ns := range namespaces {
			require.Len(t, all[ns], len(groups), ns)
		}
		for _, ns := range namespaces {
			status, body := c.do(http.MethodGet, root+"/"+url.PathEscape(ns), "")
			require.Equal(t, http.StatusOK, status, body)
			var one map[string][]rulefmt.RuleGroup
			require.NoError(t, yaml.Unmarshal([]byte(body), &one))
			require.Equal(t, map[string][]rulefmt.RuleGroup{ns: all[ns]}, one)
			for _, g := range groups {
				status, body := c.do(http.MethodGet, root+"/"+url.PathEscape(ns)+"/"+url.PathEscape(g), "")
				require.Equal(t, http.StatusOK, status, body)
				var got rulefmt.RuleGroup
				require.NoError(t, yaml.Unmarshal([]byte(body), &got))
				require.Equal(t, rulefmt.RuleGroup{
					Name: g, Interval: model.Duration(time.Minute),
					Rules: []rulefmt.Rule{{Record: "job:r", Expr: "sum by (job) (rate(x[5m]))"}},
				}, got)
			}
		}
	}

	// Deleting a group leaves its neighbours, whose names it prefixes or
	// that differ by an escape.
	status, body := c.do(http.MethodDelete, canonical+"/"+url.PathEscape("a/b c")+"/"+url.PathEscape("g/1 x"), "")
	require.Equal(t, http.StatusAccepted, status, body)
	status, body = c.do(http.MethodGet, canonical+"/"+url.PathEscape("a/b c")+"/"+url.PathEscape("g/1 x"), "")
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no rule groups found", body)
	status, _ = c.do(http.MethodDelete, canonical+"/"+url.PathEscape("a/b c")+"/"+url.PathEscape("g/1 x"), "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = c.do(http.MethodGet, canonical+"/"+url.PathEscape("a/b c")+"/"+url.PathEscape("ü"), "")
	require.Equal(t, http.StatusOK, status)

	for _, ns := range namespaces {
		status, body := c.do(http.MethodDelete, "/api/v1/rules/"+url.PathEscape(ns), "")
		require.Equal(t, http.StatusAccepted, status, body)
		require.JSONEq(t, `{"status":"success"}`, body)
	}
	status, _ = c.do(http.MethodDelete, canonical+"/plain", "")
	require.Equal(t, http.StatusNotFound, status)
	for _, path := range []string{canonical, canonical + "/plain"} {
		status, body := c.do(http.MethodGet, path, "")
		require.Equal(t, http.StatusNotFound, status)
		require.Equal(t, "no rule groups found", body)
	}
}

func TestPostReplacesTheGroup(t *testing.T) {
	srv := configapitest.New(t, 0)
	srv.SetLimits("team-a", func(l *limits.Limits) { l.RulerMaxRuleGroupsPerTenant = 2 })
	c := client{t, srv.URL, srv.Key(t, "team-a", auth.ScopeRules)}
	for _, body := range []string{groupYAML("g", "1"), groupYAML("h", "1"), groupYAML("g", "2", "3")} {
		status, msg := c.do(http.MethodPost, canonical+"/ns", body)
		require.Equal(t, http.StatusAccepted, status, "replacing a group does not count against the limit: %s", msg)
	}
	status, body := c.do(http.MethodGet, canonical+"/ns/g", "")
	require.Equal(t, http.StatusOK, status)
	var got rulefmt.RuleGroup
	require.NoError(t, yaml.Unmarshal([]byte(body), &got))
	require.Len(t, got.Rules, 2)
	require.Equal(t, "3", got.Rules[1].Expr)
	status, body = c.do(http.MethodPost, canonical+"/other", groupYAML("g", "1"))
	require.Equal(t, http.StatusBadRequest, status, "the same name in another namespace is another group")
	require.Contains(t, body, `tenant "team-a" has 2 rule groups, adding group "g" would pass the limit of 2 (-ruler.max-rule-groups-per-tenant)`)
}

func TestBadInput(t *testing.T) {
	srv := configapitest.New(t, 4096)
	srv.SetLimits("team-a", func(l *limits.Limits) {
		l.RulerMaxRulesPerRuleGroup = 3
		l.MaxQueryExpressionDepth = 50
		l.MaxQueryExpressionTokens = 200
	})
	c := client{t, srv.URL, srv.Key(t, "team-a", auth.ScopeRules)}
	cases := map[string]struct {
		path, body string
		status     int
		want       []string
	}{
		"invalid YAML": {
			body: "name: g\nrules: [", status: http.StatusBadRequest,
			want: []string{"invalid rule group: decoding the YAML: yaml: line 2"},
		},
		"an unknown field": {
			body: "name: g\nevaluation_delay: 1m\nrules: []\n", status: http.StatusBadRequest,
			want: []string{"field evaluation_delay not found in type rulefmt.RuleGroup"},
		},
		"an unknown rule field": {
			body: "name: g\nrules:\n  - record: r\n    expr: up\n    exprr: up\n", status: http.StatusBadRequest,
			want: []string{"field exprr not found"},
		},
		"a bad expression, named by group and rule as promtool does": {
			body: "name: g\nrules:\n  - record: ok\n    expr: up\n  - alert: Broken\n    expr: sum(up\n", status: http.StatusBadRequest,
			want: []string{`6:11: group "g", rule 2, "Broken": could not parse expression: 1:7: parse error: unclosed left parenthesis`},
		},
		"record and alert both": {
			body: "name: g\nrules:\n  - record: r\n    alert: A\n    expr: up\n", status: http.StatusBadRequest,
			want: []string{`group "g", rule 1, "A": only one of 'record' and 'alert' must be set`},
		},
		"a bad label name": {
			body: "name: g\nlabels:\n  __name__: x\nrules: []\n", status: http.StatusBadRequest,
			want: []string{"invalid label name: __name__"},
		},
		"an empty group name": {
			body: "name: ''\nrules: []\n", status: http.StatusBadRequest,
			want: []string{"Groupname must not be empty"},
		},
		"every problem is listed": {
			body: "name: g\nrules:\n  - record: r\n    expr: up(\n  - record: 'a{b}'\n    expr: up\n", status: http.StatusBadRequest,
			want: []string{`rule 1, "r": could not parse expression`, `rule 2, "a{b}": braces present in the recording rule name`},
		},
		"a bad template in an alert": {
			body: "name: g\nrules:\n  - alert: A\n    expr: up\n    annotations:\n      summary: '{{ .Foo'\n", status: http.StatusBadRequest,
			want: []string{`group "g", rule 1, "A": annotation "summary"`},
		},
		"an empty body": {body: "", status: http.StatusBadRequest, want: []string{"the body is empty"}},
		"two documents": {
			body: groupYAML("g", "1") + "---\n" + groupYAML("h", "1"), status: http.StatusBadRequest,
			want: []string{"more than one YAML document"},
		},
		"too many rules": {
			body: groupYAML("g", "1", "2", "3", "4"), status: http.StatusBadRequest,
			want: []string{`group "g" has 4 rules, over the limit of 3 rules per group of tenant "team-a" (-ruler.max-rules-per-rule-group)`},
		},
		"an interval under the minimum": {
			body: "name: g\ninterval: 5s\nrules: []\n", status: http.StatusBadRequest,
			want: []string{`group "g" has interval 5s, under the minimum evaluation interval 15s of tenant "team-a"`},
		},
		"an expression nested too deep, refused before it is parsed": {
			body: groupYAML("g", strings.Repeat("(", 60)+"1"+strings.Repeat(")", 60)), status: http.StatusBadRequest,
			want: []string{`group "g", rule 1, "job:r": expression nested at least 51 deep, over the limit of 50`},
		},
		"an expression with too many tokens": {
			body: groupYAML("g", "up{"+strings.Repeat(`a="b",`, 50)+"}"), status: http.StatusBadRequest,
			want: []string{"expression of at least 201 tokens, over the limit of 200"},
		},
		"an oversized body": {
			body: groupYAML("g", strings.Repeat("x", 5000)), status: http.StatusRequestEntityTooLarge,
			want: []string{"the rule group is over 4096 bytes (-ruler.max-rule-group-bytes)"},
		},
		"a group name too long for the store": {
			body: groupYAML(strings.Repeat("g", 600), "1"), status: http.StatusBadRequest,
			want: []string{"group name", "600 bytes, at most 512"},
		},
		"a namespace that is not UTF-8": {
			path: canonical + "/%FF", body: groupYAML("g", "1"), status: http.StatusBadRequest,
			want: []string{`namespace name "\xff" is not valid UTF-8`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c.t = t
			path := tc.path
			if path == "" {
				path = canonical + "/ns"
			}
			status, body := c.do(http.MethodPost, path, tc.body)
			require.Equal(t, tc.status, status, body)
			for _, w := range tc.want {
				require.Contains(t, body, w)
			}
		})
	}
	c.t = t
	status, _ := c.do(http.MethodGet, canonical, "")
	require.Equal(t, http.StatusNotFound, status, "nothing was stored")
	require.Zero(t, srv.Changes("team-a"))
	require.Equal(t, float64(1), mustCounter(t, srv, "too_large"))
	require.Equal(t, float64(13), mustCounter(t, srv, "invalid_group"))
}

func mustCounter(t *testing.T, srv *configapitest.Server, reason string) float64 {
	t.Helper()
	mfs, err := srv.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "hearth_ruler_config_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// An oversized body sent without a Content-Length (chunked) is refused
// once the limit is read, not after reading it all.
func TestOversizedChunkedBody(t *testing.T) {
	srv := configapitest.New(t, 4096)
	token := srv.Key(t, "team-a", auth.ScopeRules)
	pr, pw := io.Pipe()
	go func() {
		// Far more than the limit; the writer stops when the server has
		// answered and the transport closes the pipe.
		chunk := []byte(strings.Repeat("# padding\n", 100))
		for range 100_000 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, srv.URL+canonical+"/ns", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	pr.CloseWithError(io.ErrClosedPipe)
}

func TestScopesAndTenantIsolation(t *testing.T) {
	srv := configapitest.New(t, 0)
	rulesA := client{t, srv.URL, srv.Key(t, "team-a", auth.ScopeRules)}
	status, _ := rulesA.do(http.MethodPost, canonical+"/ns", groupYAML("g", "up"))
	require.Equal(t, http.StatusAccepted, status)

	readA := client{t, srv.URL, srv.Key(t, "team-a", auth.ScopeRead)}
	writeA := client{t, srv.URL, srv.Key(t, "team-a", auth.ScopeWrite)}
	rulesB := client{t, srv.URL, srv.Key(t, "team-b", auth.ScopeRules|auth.ScopeRead|auth.ScopeWrite)}
	cases := map[string]struct {
		c            client
		method, path string
		body         string
		status       int
		want         string
	}{
		"a read key reads":                        {readA, http.MethodGet, canonical + "/ns/g", "", http.StatusOK, "name: g"},
		"a read key does not write":               {readA, http.MethodPost, canonical + "/ns", groupYAML("h", "up"), http.StatusForbidden, "lacks the rules scope"},
		"a read key does not delete":              {readA, http.MethodDelete, canonical + "/ns", "", http.StatusForbidden, "lacks the rules scope"},
		"a write key does not read":               {writeA, http.MethodGet, canonical, "", http.StatusForbidden, "lacks the read or rules scope"},
		"a rules key reads":                       {rulesA, http.MethodGet, "/api/prom/rules", "", http.StatusOK, "ns:"},
		"another tenant sees none of them":        {rulesB, http.MethodGet, canonical, "", http.StatusNotFound, "no rule groups found"},
		"another tenant cannot get the group":     {rulesB, http.MethodGet, canonical + "/ns/g", "", http.StatusNotFound, "no rule groups found"},
		"another tenant cannot delete the group":  {rulesB, http.MethodDelete, canonical + "/ns/g", "", http.StatusNotFound, "not found"},
		"another tenant cannot delete namespaces": {rulesB, http.MethodDelete, "/api/v1/rules/ns", "", http.StatusNotFound, "not found"},
		"no key": {client{t, srv.URL, ""}, http.MethodGet, canonical, "", http.StatusUnauthorized, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.c.t = t
			status, body := tc.c.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, body)
			require.Contains(t, body, tc.want)
		})
	}

	// Another tenant's writes land in its own groups.
	status, _ = rulesB.do(http.MethodPost, canonical+"/ns", groupYAML("g", "vector(2)"))
	require.Equal(t, http.StatusAccepted, status)
	status, body := rulesA.do(http.MethodGet, canonical+"/ns/g", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "expr: up")
	require.Equal(t, 1, srv.Changes("team-b"))

	// A Basic-auth user naming team-a with team-b's key is refused.
	req, err := http.NewRequest(http.MethodGet, srv.URL+canonical, nil)
	require.NoError(t, err)
	req.SetBasicAuth("team-a", rulesB.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}
