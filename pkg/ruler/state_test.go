package ruler

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func getState(t *testing.T, h http.Handler, tn tenant.ID, target string) (int, []GroupState, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req = req.WithContext(tenant.WithID(req.Context(), tn))
	h.ServeHTTP(rec, req)
	var res struct {
		Error string `json:"error"`
		Data  struct {
			Groups []GroupState `json:"groups"`
			Next   string       `json:"groupNextToken"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res), rec.Body.String())
	return rec.Code, res.Data.Groups, res.Data.Next, res.Error
}

func TestStateAPIFiltersAndPages(t *testing.T) {
	h := startRuler(t, testConfig(t), nil, nil, nil)
	h.store.set(t, "team-a", "ns1", `
groups:
- name: a
  interval: 1s
  rules:
  - record: rec_a
    expr: vector(1)
    labels: {team: x}
  - alert: AlertA
    expr: vector(1)
- name: b
  rules:
  - record: rec_b
    expr: vector(2)
- name: c
  interval: 1s
  rules:
  - alert: AlertC
    expr: vector(1)
`)
	h.ruler.Notify("team-a")
	api := h.ruler.StateHandler(nil)
	require.Eventually(t, func() bool {
		_, g, _, _ := getState(t, api, "team-a", "/api/v1/rules")
		return len(g) == 3
	}, 10*time.Second, 50*time.Millisecond)

	names := func(gs []GroupState) []string {
		var out []string
		for _, g := range gs {
			for _, r := range g.Rules {
				out = append(out, g.Name+"/"+r.Name)
			}
		}
		return out
	}
	tests := map[string]struct {
		query string
		want  []string
		code  int
		err   string
	}{
		"everything":                  {query: "", want: []string{"a/rec_a", "a/AlertA", "b/rec_b", "c/AlertC"}},
		"alerting rules":              {query: "?type=alert", want: []string{"a/AlertA", "c/AlertC"}},
		"recording rules":             {query: "?type=record", want: []string{"a/rec_a", "b/rec_b"}},
		"by rule name":                {query: "?rule_name[]=rec_b&rule_name[]=AlertC", want: []string{"b/rec_b", "c/AlertC"}},
		"by group":                    {query: "?rule_group[]=a", want: []string{"a/rec_a", "a/AlertA"}},
		"by file":                     {query: "?file[]=ns2"},
		"by label matcher":            {query: `?match[]={team="x"}`, want: []string{"a/rec_a"}},
		"an unknown type":             {query: "?type=bogus", code: 400, err: "type"},
		"a bad matcher":               {query: "?match[]={", code: 400, err: "match[]"},
		"a token without a limit":     {query: "?group_next_token=x", code: 400, err: "group_limit"},
		"a zero limit":                {query: "?group_limit=0", code: 400, err: "group_limit"},
		"an unknown token":            {query: "?group_limit=1&group_next_token=nope", code: 400, err: "group_next_token"},
		"a bad exclude_alerts":        {query: "?exclude_alerts=maybe", code: 400, err: "exclude_alerts"},
		"alerts excluded still lists": {query: "?exclude_alerts=true&type=alert", want: []string{"a/AlertA", "c/AlertC"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, groups, _, errMsg := getState(t, api, "team-a", "/api/v1/rules"+tc.query)
			if tc.code == 0 {
				tc.code = 200
			}
			require.Equal(t, tc.code, code, errMsg)
			require.Contains(t, errMsg, tc.err)
			require.Equal(t, tc.want, names(groups))
		})
	}

	t.Run("pages of one group", func(t *testing.T) {
		var seen []string
		q := "/api/v1/rules?group_limit=1"
		for range 5 {
			code, groups, next, _ := getState(t, api, "team-a", q)
			require.Equal(t, 200, code)
			require.Len(t, groups, 1)
			seen = append(seen, groups[0].Name)
			if next == "" {
				break
			}
			q = "/api/v1/rules?group_limit=1&group_next_token=" + next
		}
		require.Equal(t, []string{"a", "b", "c"}, seen)
	})

	t.Run("alerts", func(t *testing.T) {
		require.Eventually(t, func() bool {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/api/v1/alerts", nil)
			req = req.WithContext(tenant.WithID(req.Context(), "team-a"))
			api.ServeHTTP(rec, req)
			var res struct {
				Data struct {
					Alerts []AlertState `json:"alerts"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
			return len(res.Data.Alerts) == 2 && res.Data.Alerts[0].State == "firing"
		}, 10*time.Second, 50*time.Millisecond)
	})
}

func TestNotificationsCarryTheTenant(t *testing.T) {
	var (
		mu      sync.Mutex
		tenants []string
		bodies  []string
	)
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		tenants = append(tenants, r.Header.Get(tenant.Header))
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer am.Close()
	cfg := testConfig(t)
	cfg.AlertmanagerURL = am.URL + "/am"
	h := startRuler(t, cfg, nil, nil, nil)
	h.store.set(t, "team-a", "ns", "groups:\n- name: g\n  interval: 1s\n  rules:\n  - alert: Always\n    expr: vector(1)\n")
	h.ruler.Notify("team-a")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tenants) > 0
	}, 10*time.Second, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "team-a", tenants[0])
	require.True(t, strings.HasPrefix(bodies[0], "/am/api/v2/alerts "), bodies[0])
	require.Contains(t, bodies[0], `"alertname":"Always"`)
}
