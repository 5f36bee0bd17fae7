package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestOperatorTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, OperatorTokenFileName)
	first, err := LoadOrCreateOperatorToken(path)
	require.NoError(t, err)
	require.True(t, first.Created)
	require.False(t, first.Exposed)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.True(t, strings.HasPrefix(first.Token.Reveal(), operatorLabel))

	again, err := LoadOrCreateOperatorToken(path)
	require.NoError(t, err)
	require.False(t, again.Created)
	require.Equal(t, first.Token.Reveal(), again.Token.Reveal(), "a restart reads the same credential")

	require.NoError(t, os.Chmod(path, 0o644))
	exposed, err := LoadOrCreateOperatorToken(path)
	require.NoError(t, err)
	require.True(t, exposed.Exposed, "readable by others: the wiring warns")

	require.NoError(t, os.Chmod(path, 0o622))
	_, err = LoadOrCreateOperatorToken(path)
	require.ErrorIs(t, err, ErrInsecureFile, "writable by others: refused")

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	_, err = ReadOperatorToken(empty)
	require.ErrorContains(t, err, "empty")
}

// internalServer serves the admin API behind the operator middleware, as
// the wiring mounts it, plus a stand-in for the other operator endpoints.
func internalServer(t testing.TB, a *Authenticator, keys *Keys, logs *bytes.Buffer, deleted *[]tenant.ID) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", NewAdminHandler(AdminDeps{Keys: keys, Auth: a, Logger: logger, DeleteTenant: func(_ context.Context, id tenant.ID) error {
		*deleted = append(*deleted, id)
		return nil
	}}))
	for _, p := range []string{"/config", "/ring", "/ingester/shutdown", "/ingester/flush", "/debug/pprof/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "operator only") })
	}
	srv := httptest.NewServer(a.Operator(mux))
	t.Cleanup(srv.Close)
	return srv
}

func TestOperatorEndpointsRefuseWithoutTheCredential(t *testing.T) {
	keys := NewKeys(newMem())
	cfg := testConfig()
	cfg.FailureBurst = 1000
	a, _ := newAuth(t, cfg, keys, nil)
	var deleted []tenant.ID
	srv := internalServer(t, a, keys, nil, &deleted)
	tenantKey := mustCreate(t, keys, "team-a", ScopeWrite|ScopeRead|ScopeRules)
	for _, path := range []string{"/admin/tenants/team-a/keys", "/config", "/ring", "/ingester/shutdown", "/ingester/flush", "/debug/pprof/"} {
		for name, c := range map[string]cred{
			"no credential":           nil,
			"a wrong token":           bearer("operator-secret-for-tests-not"),
			"a prefix of the token":   bearer("operator-secret"),
			"a wrong token as Basic":  basic("admin", "operator-secret-for-tests-not"),
			"the token as Basic user": basic("operator-secret-for-tests", ""),
			"a tenant's API key":      bearer(tenantKey.Token.Reveal()),
			"a tenant's key as Basic": basic("team-a", tenantKey.Token.Reveal()),
		} {
			t.Run(path+" refuses "+name, func(t *testing.T) {
				st, body, h := do(t, srv, http.MethodGet, path, c)
				require.Equal(t, http.StatusUnauthorized, st, body)
				require.Equal(t, operatorChallenge, h.Get("WWW-Authenticate"))
				require.True(t, strings.HasPrefix(operatorChallenge, "Basic "), "a browser prompts only for Basic")
			})
		}
		st, body, _ := do(t, srv, http.MethodGet, path, bearer("operator-secret-for-tests"))
		require.Equal(t, http.StatusOK, st, body)
		// A browser: Basic auth, any user, the token as password.
		st, body, _ = do(t, srv, http.MethodGet, path, basic("admin", "operator-secret-for-tests"))
		require.Equal(t, http.StatusOK, st, body)
	}
	// An authenticator without an operator token refuses everything.
	closed, err := New(Deps{Config: testConfig(), Keys: keys})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/config", nil)
	req.Header.Set("Authorization", "Bearer ")
	closed.Operator(http.NotFoundHandler()).ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
}

func adminDo(t testing.TB, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer operator-secret-for-tests")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// TestAdminAPI drives the key lifecycle through the operator API and the
// keys it makes through the public middleware.
func TestAdminAPI(t *testing.T) {
	keys := NewKeys(newPebble(t))
	var logs bytes.Buffer
	cfg := testConfig()
	cfg.FailureBurst = 1000
	a, _ := newAuth(t, cfg, keys, &logs)
	var deleted []tenant.ID
	internal := internalServer(t, a, keys, &logs, &deleted)
	public := publicServer(t, a)

	st, body := adminDo(t, internal, http.MethodPost, "/admin/tenants/team-a/keys", `{"name":"prometheus","scopes":["write"],"expires_in":"30d"}`)
	require.Equal(t, http.StatusCreated, st, string(body))
	var created CreatedKey
	require.NoError(t, json.Unmarshal(body, &created))
	require.Equal(t, StateActive, created.Key.State)
	require.Equal(t, ScopeWrite, created.Key.Scopes)
	require.False(t, created.Key.Expires.IsZero())
	st, got, _ := do(t, public, http.MethodPost, "/api/v1/push", basic("team-a", created.Token))
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "team-a", got)

	st, body = adminDo(t, internal, http.MethodGet, "/admin/tenants/team-a/keys", "")
	require.Equal(t, http.StatusOK, st)
	require.NotContains(t, string(body), created.Token[len(tokenPrefix)+idLen+1:], "lists never show secrets")
	require.NotContains(t, string(body), "sha256")
	var list KeyList
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Keys, 1)
	require.Equal(t, created.Key.ID, list.Keys[0].ID)

	st, body = adminDo(t, internal, http.MethodPost, "/admin/tenants/team-a/keys/"+created.Key.ID+"/rotate", `{"grace":"1h"}`)
	require.Equal(t, http.StatusCreated, st, string(body))
	var rotated CreatedKey
	require.NoError(t, json.Unmarshal(body, &rotated))
	for _, tok := range []string{created.Token, rotated.Token} {
		st, _, _ := do(t, public, http.MethodPost, "/api/v1/push", bearer(tok))
		require.Equal(t, http.StatusOK, st, "both keys work during the grace")
	}

	st, _ = adminDo(t, internal, http.MethodDelete, "/admin/tenants/team-a/keys/"+rotated.Key.ID, "")
	require.Equal(t, http.StatusNoContent, st)
	st, _, _ = do(t, public, http.MethodPost, "/api/v1/push", bearer(rotated.Token))
	require.Equal(t, http.StatusUnauthorized, st, "revoked here: refused at once")

	st, _ = adminDo(t, internal, http.MethodDelete, "/admin/tenants/team-b/keys/"+created.Key.ID, "")
	require.Equal(t, http.StatusNotFound, st, "another tenant's key is not found")

	// A ".." key id is cleaned away by the mux (a redirect to
	// DELETE /admin/tenants/team-a, which the client follows): that must
	// not delete the tenant.
	st, _ = adminDo(t, internal, http.MethodDelete, "/admin/tenants/team-a/keys/..", "")
	require.Equal(t, http.StatusNotFound, st)
	require.Empty(t, deleted)

	st, _ = adminDo(t, internal, http.MethodPost, "/admin/tenants/team-a/delete", "")
	require.Equal(t, http.StatusNoContent, st)
	require.Equal(t, []tenant.ID{"team-a"}, deleted)
	st, _, _ = do(t, public, http.MethodPost, "/api/v1/push", bearer(created.Token))
	require.Equal(t, http.StatusUnauthorized, st, "a deleted tenant's keys are gone")

	for name, tc := range map[string]struct {
		method, path, body string
		want               int
	}{
		"a dot-dot tenant":            {http.MethodPost, "/admin/tenants/%2E%2E/keys", `{"scopes":["read"]}`, http.StatusBadRequest},
		"an encoded-slash tenant":     {http.MethodPost, "/admin/tenants/a%2Fb/keys", `{"scopes":["read"]}`, http.StatusBadRequest},
		"an oversize tenant":          {http.MethodGet, "/admin/tenants/" + strings.Repeat("a", tenant.MaxLength+1) + "/keys", "", http.StatusBadRequest},
		"an unknown scope":            {http.MethodPost, "/admin/tenants/t/keys", `{"scopes":["superuser"]}`, http.StatusBadRequest},
		"no scope":                    {http.MethodPost, "/admin/tenants/t/keys", `{}`, http.StatusBadRequest},
		"a bad expiry":                {http.MethodPost, "/admin/tenants/t/keys", `{"scopes":["read"],"expires_in":"-1h"}`, http.StatusBadRequest},
		"an unknown field":            {http.MethodPost, "/admin/tenants/t/keys", `{"scopes":["read"],"tenant":"x"}`, http.StatusBadRequest},
		"rotating an unknown key":     {http.MethodPost, "/admin/tenants/t/keys/aaaaaaaaaaaaaaaa/rotate", ``, http.StatusNotFound},
		"revoking a malformed key id": {http.MethodDelete, "/admin/tenants/t/keys/%2E%2E", ``, http.StatusNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := adminDo(t, internal, tc.method, tc.path, tc.body)
			require.Equal(t, tc.want, st, string(body))
		})
	}

	require.Contains(t, logs.String(), "API key created")
	for _, tok := range []string{created.Token, rotated.Token} {
		require.NotContains(t, logs.String(), tok[len(tokenPrefix)+idLen+1:])
	}
}
