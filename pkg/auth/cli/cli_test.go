package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	addr, tokenFile string
	public          *httptest.Server
	deleted         []tenant.ID
	requests        int
}

// newEnv runs the operator API as the server wires it (Pebble store,
// operator token file in a data directory) and a public endpoint.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	tok, err := auth.LoadOrCreateOperatorToken(filepath.Join(dir, auth.OperatorTokenFileName))
	require.NoError(t, err)
	po := pebble.DefaultOptions()
	po.Dir, po.NoSync = filepath.Join(dir, "store"), true
	b, err := pebble.Open(po, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	keys := auth.NewKeys(b)
	cfg := auth.Config{Mode: auth.ModeAPIKeys, CacheTTL: 5 * time.Second, FailureRateLimit: 1, FailureBurst: 100}
	a, err := auth.New(auth.Deps{Config: cfg, Keys: keys, OperatorToken: tok.Token, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	e := &env{tokenFile: tok.Path}
	admin := auth.NewAdminHandler(auth.AdminDeps{Keys: keys, Auth: a, Logger: slog.New(slog.DiscardHandler), DeleteTenant: func(_ context.Context, id tenant.ID) error {
		e.deleted = append(e.deleted, id)
		return nil
	}})
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests++
		a.Operator(admin).ServeHTTP(w, r)
	}))
	t.Cleanup(internal.Close)
	e.addr = internal.URL
	e.public = httptest.NewServer(a.Middleware(auth.ScopeWrite)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := tenant.FromContext(r.Context())
		_, _ = w.Write([]byte(id))
	})))
	t.Cleanup(e.public.Close)
	return e
}

func (e *env) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--addr", e.addr, "--token-file", e.tokenFile)
	code := Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func (e *env) push(t *testing.T, user, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.public.URL, nil)
	require.NoError(t, err)
	req.SetBasicAuth(user, key)
	resp, err := e.public.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestKeysLifecycle(t *testing.T) {
	e := newEnv(t)
	code, out, errOut := e.run(t, "create", "--tenant", "team-a", "--scope", "write,read", "--name", "prometheus", "--expires", "30d")
	require.Equal(t, ExitOK, code, errOut)
	key := strings.TrimSpace(out)
	id, err := auth.ParseToken(key)
	require.NoError(t, err, "stdout is the key alone")
	require.Contains(t, errOut, "shown once")
	require.NotContains(t, errOut, key)
	require.Equal(t, http.StatusOK, e.push(t, "team-a", key))

	code, out, _ = e.run(t, "list", "--tenant", "team-a")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, id)
	require.Contains(t, out, "prometheus")
	require.Contains(t, out, "write,read")
	require.NotContains(t, out, key[len("hearth_")+len(id)+1:])

	code, out, errOut = e.run(t, "rotate", "--tenant", "team-a", "--id", id, "--grace", "1h")
	require.Equal(t, ExitOK, code, errOut)
	newKey := strings.TrimSpace(out)
	newID, err := auth.ParseToken(newKey)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, e.push(t, "team-a", key), "old key in its grace")
	require.Equal(t, http.StatusOK, e.push(t, "team-a", newKey))

	code, _, errOut = e.run(t, "revoke", "--tenant", "team-a", "--id", newID)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, http.StatusUnauthorized, e.push(t, "team-a", newKey))

	code, out, _ = e.run(t, "list", "--tenant", "team-a", "--json")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, `"state": "revoked"`)

	code, _, errOut = e.run(t, "delete-tenant", "--tenant", "team-a")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, errOut, "--yes")
	code, _, errOut = e.run(t, "delete-tenant", "--tenant", "team-a", "--yes")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, []tenant.ID{"team-a"}, e.deleted)
	require.Equal(t, http.StatusUnauthorized, e.push(t, "team-a", key))
}

func TestKeysRefusals(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		args    []string
		code    int
		stderr  string
		reaches bool
	}{
		"no command":                  {args: nil, code: ExitUsage, stderr: "Usage"},
		"unknown command":             {args: []string{"drop"}, code: ExitUsage, stderr: "unknown command"},
		"no tenant":                   {args: []string{"list"}, code: ExitUsage, stderr: "--tenant"},
		"path-traversal tenant":       {args: []string{"list", "--tenant", "../x"}, code: ExitUsage, stderr: "--tenant"},
		"oversize tenant":             {args: []string{"list", "--tenant", strings.Repeat("a", 151)}, code: ExitUsage, stderr: "longer"},
		"no scope":                    {args: []string{"create", "--tenant", "t"}, code: ExitUsage, stderr: "scope"},
		"unknown scope":               {args: []string{"create", "--tenant", "t", "--scope", "superuser"}, code: ExitUsage, stderr: "scope"},
		"a '..' key id":               {args: []string{"revoke", "--tenant", "t", "--id", ".."}, code: ExitUsage, stderr: "not a key ID"},
		"unknown key":                 {args: []string{"revoke", "--tenant", "t", "--id", "aaaaaaaaaaaaaaaa"}, code: ExitFailed, stderr: "404", reaches: true},
		"bad expiry (server refuses)": {args: []string{"create", "--tenant", "t", "--scope", "read", "--expires", "soon"}, code: ExitFailed, stderr: "400", reaches: true},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.requests
			var out, errOut bytes.Buffer
			args := tc.args
			if args != nil {
				args = append(args, "--addr", e.addr, "--token-file", e.tokenFile)
			}
			require.Equal(t, tc.code, Run(args, &out, &errOut), errOut.String())
			require.Contains(t, errOut.String(), tc.stderr)
			require.Equal(t, tc.reaches, e.requests > before)
		})
	}

	t.Run("a wrong operator token", func(t *testing.T) {
		wrong := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(wrong, []byte("nope\n"), 0o600))
		var out, errOut bytes.Buffer
		require.Equal(t, ExitFailed, Run([]string{"list", "--tenant", "t", "--addr", e.addr, "--token-file", wrong}, &out, &errOut))
		require.Contains(t, errOut.String(), "401")
		require.NotContains(t, errOut.String(), "nope")
	})
	t.Run("a missing token file", func(t *testing.T) {
		var out, errOut bytes.Buffer
		require.Equal(t, ExitFailed, Run([]string{"list", "--tenant", "t", "--addr", e.addr, "--token-file", "/nonexistent/token"}, &out, &errOut))
		require.Contains(t, errOut.String(), "--token-file")
	})
}
