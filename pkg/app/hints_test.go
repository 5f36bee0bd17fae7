package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/auth/cli"
)

// TestNearMissHints asks a running all-in-one (API keys) the paths people
// get wrong, with a write-only key: each answers a 404 naming the right
// path, before the scope check, in Prometheus's JSON on API paths; the
// right paths and the paths the ruler and Alertmanager will own are left
// alone.
func TestNearMissHints(t *testing.T) {
	p := startProcess(t, TargetAll, "-auth.mode=api-keys")
	writeKey := createKey(t, p, "team-a", "write")
	public := "http://" + p.app.HTTPAddr()
	operator := "http://" + p.app.InternalAddr()

	tests := map[string]struct {
		method, url string
		wantStatus  int
		wantJSON    bool
		wantMsg     string // "" when the answer must carry no hint
	}{
		"push under the Prometheus prefix, a read-scoped subtree": {
			method: "POST", url: public + "/prometheus/api/v1/push",
			wantStatus: 404, wantJSON: true, wantMsg: "remote write is POST /api/v1/push",
		},
		"Thanos/VictoriaMetrics path": {
			method: "POST", url: public + "/api/v1/write",
			wantStatus: 404, wantJSON: true, wantMsg: "remote write is POST /api/v1/push",
		},
		"bare /push": {
			method: "POST", url: public + "/push",
			wantStatus: 404, wantMsg: "remote write is POST /api/v1/push",
		},
		"the push path opened in a browser": {
			method: "GET", url: public + "/api/v1/push",
			wantStatus: 405, wantJSON: true, wantMsg: "remote write is POST /api/v1/push",
		},
		"a query without the prefix": {
			method: "GET", url: public + "/api/v1/query?query=up",
			wantStatus: 404, wantJSON: true, wantMsg: "the Prometheus API is under /prometheus",
		},
		"Grafana's Save & test without the prefix": {
			method: "GET", url: public + "/api/v1/status/buildinfo",
			wantStatus: 404, wantJSON: true, wantMsg: "the Prometheus API is under /prometheus",
		},
		"label values without the prefix": {
			method: "GET", url: public + "/api/v1/label/job/values",
			wantStatus: 404, wantJSON: true, wantMsg: "the Prometheus API is under /prometheus",
		},
		"Cortex's old API prefix": {
			method: "GET", url: public + "/api/prom/api/v1/query_range",
			wantStatus: 404, wantJSON: true, wantMsg: "the Prometheus API is under /prometheus",
		},
		"the ruler's config API is served (the test's key lacks the rules scope)": {
			method: "GET", url: public + "/api/v1/rules", wantStatus: 403,
		},
		"the Alertmanager's API is not shadowed": {
			method: "GET", url: public + "/api/v1/alerts", wantStatus: 404,
		},
		"Cortex's ruler path is served": {
			method: "GET", url: public + "/api/prom/rules", wantStatus: 403,
		},
		"the key manager pointed at the public port": {
			method: "POST", url: public + "/admin/tenants/team-a/keys",
			wantStatus: 404, wantMsg: "tenant administration is on the operator listener",
		},
		"a push to the operator port names the public one": {
			method: "POST", url: operator + "/api/v1/push",
			wantStatus: 404, wantJSON: true, wantMsg: "-server.http-listen-address=" + p.app.HTTPAddr(),
		},
		"a query to the operator port names the public one": {
			method: "GET", url: operator + "/prometheus/api/v1/query?query=up",
			wantStatus: 404, wantJSON: true, wantMsg: "tenants' remote write and queries are served on the public listener",
		},
		"the right push path still needs its scope and body": {
			method: "POST", url: public + "/api/v1/push", wantStatus: 400,
		},
		"a query with a write key is still refused by scope": {
			method: "GET", url: public + "/prometheus/api/v1/query?query=up", wantStatus: 403,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, strings.NewReader("not protobuf"))
			require.NoError(t, err)
			req.SetBasicAuth("team-a", writeKey)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tc.wantStatus, resp.StatusCode, string(body))
			if tc.wantMsg == "" {
				require.NotContains(t, string(body), "under /prometheus")
				require.NotContains(t, string(body), "remote write is")
				return
			}
			if !tc.wantJSON {
				require.Contains(t, string(body), tc.wantMsg)
				return
			}
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var got struct{ Status, ErrorType, Error string }
			require.NoError(t, json.Unmarshal(body, &got), string(body))
			require.Equal(t, "error", got.Status)
			require.NotEmpty(t, got.ErrorType)
			require.Contains(t, got.Error, tc.wantMsg)
		})
	}
}

// TestHintsWithOtherPrefixes checks the hints never take a path the
// querier serves, whatever -querier.http-prefix is, and that a process
// without a distributor says where pushes go.
func TestHintsWithOtherPrefixes(t *testing.T) {
	for _, prefix := range []string{"", "/api/prom", "/prometheus", "/api/v1"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			args := []string{"-querier.http-prefix=" + prefix}
			if prefix == "" {
				// The ruler refuses an empty prefix (its config API's
				// /api/v1/rules would collide); a querier alone takes it.
				_, _, err := ParseArgs(args, TargetAll, io.Discard)
				require.ErrorContains(t, err, "querier.http_prefix: empty with the ruler running")
				args = append(args, "-target=querier", "-store.backend=bigtable", "-store.bigtable.project=p", "-store.bigtable.instance=i")
			}
			cfg, _, err := ParseArgs(args, TargetAll, io.Discard)
			require.NoError(t, err)
			mux := http.NewServeMux()
			registerHints(mux, cfg)
			// The querier mounts its API after the hints: no conflict.
			querier := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
			require.NotPanics(t, func() { mux.Handle(prefix+"/", querier) })
			for _, p := range prometheusAPIPaths {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, prefix+"/api/v1"+strings.ReplaceAll(p, "{name}", "job"), nil))
				require.Equal(t, 299, rec.Code, "%s%s must reach the querier", prefix, p)
			}
		})
	}
	cfg, _, err := ParseArgs([]string{"-target=querier", "-store.backend=bigtable", "-store.bigtable.project=p", "-store.bigtable.instance=i"}, TargetQuerier, io.Discard)
	require.NoError(t, err)
	mux := http.NewServeMux()
	registerHints(mux, cfg)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/push", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Contains(t, rec.Body.String(), "on a distributor; this process runs querier")
}

// TestBanner checks the all-in-one's banner asks for the first key only
// until one exists, then counts tenants and keys.
func TestBanner(t *testing.T) {
	p := startProcess(t, TargetAll, "-auth.mode=api-keys")
	var out strings.Builder
	p.app.printBanner(t.Context(), &out)
	require.Contains(t, out.String(), "Create the first key")
	require.Contains(t, out.String(), "a browser asks for a user, any, and the operator token as password")

	createKey(t, p, "team-a", "write")
	createKey(t, p, "team-a", "read")
	createKey(t, p, "team-b", "read")
	out.Reset()
	p.app.printBanner(t.Context(), &out)
	require.NotContains(t, out.String(), "Create the first key")
	require.Contains(t, out.String(), "2 tenants with 3 keys (team-a, team-b). List a tenant's keys:\n      bin/hearth keys list --tenant <tenant> --addr http://"+p.app.InternalAddr())
}

// TestOperatorFromABrowser opens an operator page as a browser does: the
// first answer asks for Basic auth, then any user with the operator token
// as password gets in; `hearth keys` pointed at the public port is told
// where to go.
func TestOperatorFromABrowser(t *testing.T) {
	p := startProcess(t, TargetAll, "-auth.mode=api-keys")
	resp, err := http.Get("http://" + p.app.InternalAddr() + "/ring")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic "), resp.Header.Get("WWW-Authenticate"))

	token, err := os.ReadFile(p.app.operatorToken.Path)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, "http://"+p.app.InternalAddr()+"/ring", nil)
	require.NoError(t, err)
	req.SetBasicAuth("me", strings.TrimSpace(string(token)))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var stdout, stderr bytes.Buffer
	code := cli.Run([]string{"create", "--tenant", "team-a", "--scope", "write",
		"--addr", "http://" + p.app.HTTPAddr(), "--token-file", p.app.operatorToken.Path}, &stdout, &stderr)
	require.Equal(t, cli.ExitFailed, code)
	require.Contains(t, stderr.String(), "tenant administration is on the operator listener")
}
