package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// echoTenant answers the tenant bound to the request.
var echoTenant = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		http.Error(w, "no tenant reached the handler", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, id)
})

// publicEndpoints are the public routes and the scope each requires, as
// the wiring mounts them.
var publicEndpoints = []struct {
	method, path string
	scope        Scope
}{
	{http.MethodPost, "/api/v1/push", ScopeWrite},
	{http.MethodPost, "/api/prom/push", ScopeWrite},
	{http.MethodGet, "/prometheus/api/v1/query", ScopeRead},
	{http.MethodGet, "/prometheus/api/v1/query_range", ScopeRead},
	{http.MethodGet, "/prometheus/api/v1/labels", ScopeRead},
	{http.MethodGet, "/prometheus/api/v1/series", ScopeRead},
	{http.MethodGet, "/prometheus/api/v1/metadata", ScopeRead},
	{http.MethodPost, "/prometheus/config/v1/rules/ns", ScopeRules},
	// Reads of the rules API take either scope.
	{http.MethodGet, "/prometheus/config/v1/rules", ScopeRead | ScopeRules},
}

// publicServer serves publicEndpoints behind a's middleware on 127.0.0.1.
func publicServer(t testing.TB, a *Authenticator) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for _, e := range publicEndpoints {
		mux.Handle(e.method+" "+e.path, a.Middleware(e.scope)(echoTenant))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type cred func(r *http.Request)

func bearer(tok string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}
func basic(user, tok string) cred {
	return func(r *http.Request) { r.SetBasicAuth(user, tok) }
}

func do(t testing.TB, srv *httptest.Server, method, path string, c cred) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("body"))
	require.NoError(t, err)
	if c != nil {
		c(req)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(body)), resp.Header
}

// TestPublicEndpointsRefuse runs every refusal the issue lists against
// every public endpoint, on a real server.
func TestPublicEndpointsRefuse(t *testing.T) {
	ctx := context.Background()
	keys := NewKeys(newPebble(t))
	all := ScopeWrite | ScopeRead | ScopeRules
	var logs bytes.Buffer
	cfg := testConfig()
	cfg.FailureBurst = 10_000 // this test is about statuses, not the limiter
	a, reg := newAuth(t, cfg, keys, &logs)
	srv := publicServer(t, a)

	good := mustCreate(t, keys, "team-a", all)
	other := mustCreate(t, keys, "team-b", all)
	revoked := mustCreate(t, keys, "team-a", all)
	_, err := keys.Revoke(ctx, "team-a", revoked.Key.ID, time.Time{})
	require.NoError(t, err)
	past := NewKeys(keys.backend)
	past.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, err := past.Create(ctx, CreateRequest{Tenant: "team-a", Scopes: all, Expires: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	unknownID, unknown := newToken()
	_ = unknownID
	tokens := []string{good.Token.Reveal(), other.Token.Reveal(), revoked.Token.Reveal(), expired.Token.Reveal(), unknown.Reveal()}

	for _, e := range publicEndpoints {
		noScope := mustCreate(t, keys, "team-a", all&^e.scope)
		tokens = append(tokens, noScope.Token.Reveal())
		cases := []struct {
			name       string
			cred       cred
			wantStatus int
			wantBody   string
		}{
			{"no credentials", nil, http.StatusUnauthorized, "authentication required"},
			{"an unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, http.StatusUnauthorized, "invalid API key"},
			{"a malformed key", bearer("hearth_nope"), http.StatusUnauthorized, "invalid API key"},
			{"a key nobody created", bearer(unknown.Reveal()), http.StatusUnauthorized, "invalid API key"},
			{"a real id with a wrong secret", bearer(flipLast(good.Token.Reveal())), http.StatusUnauthorized, "invalid API key"},
			{"a revoked key", bearer(revoked.Token.Reveal()), http.StatusUnauthorized, "revoked"},
			{"an expired key", bearer(expired.Token.Reveal()), http.StatusUnauthorized, "expired"},
			{"a key of another tenant (Basic user)", basic("team-a", other.Token.Reveal()), http.StatusForbidden, "does not belong"},
			{"a key without the scope", bearer(noScope.Token.Reveal()), http.StatusForbidden, "lacks the " + e.scope.Alternatives() + " scope"},
			{"Basic without the scope", basic("team-a", noScope.Token.Reveal()), http.StatusForbidden, "lacks"},
			{"a path-traversal tenant", basic("../team-a", good.Token.Reveal()), http.StatusBadRequest, "tenant"},
			{"a dot tenant", basic("..", good.Token.Reveal()), http.StatusBadRequest, "tenant"},
			{"an oversize tenant", basic(strings.Repeat("a", tenant.MaxLength+1), good.Token.Reveal()), http.StatusBadRequest, "longer than"},
			{"an empty Basic user", basic("", good.Token.Reveal()), http.StatusUnauthorized, "tenant ID"},
			{"a good Bearer key", bearer(good.Token.Reveal()), http.StatusOK, "team-a"},
			{"a good Basic key", basic("team-a", good.Token.Reveal()), http.StatusOK, "team-a"},
			{"the other tenant's own key", bearer(other.Token.Reveal()), http.StatusOK, "team-b"},
		}
		for _, one := range e.scope.Names() {
			s, _ := ParseScope(one)
			k := mustCreate(t, keys, "team-a", s)
			tokens = append(tokens, k.Token.Reveal())
			cases = append(cases, struct {
				name       string
				cred       cred
				wantStatus int
				wantBody   string
			}{"nothing: a key with only the " + one + " scope is enough", bearer(k.Token.Reveal()), http.StatusOK, "team-a"})
		}
		for _, tc := range cases {
			t.Run(e.path+" refuses "+tc.name, func(t *testing.T) {
				status, body, h := do(t, srv, e.method, e.path, tc.cred)
				require.Equal(t, tc.wantStatus, status, body)
				require.Contains(t, body, tc.wantBody)
				if status == http.StatusUnauthorized {
					require.Equal(t, `Basic realm="hearth"`, h.Get("WWW-Authenticate"))
				}
			})
		}
	}

	for reason, want := range map[string]float64{
		reasonMissing: 2 * float64(len(publicEndpoints)), reasonMalformed: 2 * float64(len(publicEndpoints)),
		reasonUnknownKey: float64(len(publicEndpoints)), reasonBadSecret: float64(len(publicEndpoints)),
		reasonRevoked: float64(len(publicEndpoints)), reasonExpired: float64(len(publicEndpoints)),
		reasonWrongTenant: float64(len(publicEndpoints)), reasonMissingScope: 2 * float64(len(publicEndpoints)),
		reasonInvalidTenant: 3 * float64(len(publicEndpoints)),
	} {
		require.Equal(t, want, testutil.ToFloat64(a.failures.WithLabelValues(reason)), reason)
	}
	require.NotZero(t, testutil.CollectAndCount(reg, "hearth_auth_failures_total"))

	// No key, whole or secret part, reached the logs.
	require.Contains(t, logs.String(), "Request refused")
	for _, tok := range tokens {
		require.NotContains(t, logs.String(), tok[len(tokenPrefix)+idLen+1:])
	}
}

// TestHotPathReadsNoStore: once a key is cached, requests read nothing.
func TestHotPathReadsNoStore(t *testing.T) {
	mem := newMem()
	keys := NewKeys(mem)
	a, _ := newAuth(t, testConfig(), keys, nil)
	srv := publicServer(t, a)
	k := mustCreate(t, keys, "team-a", ScopeWrite)
	status, _, _ := do(t, srv, http.MethodPost, "/api/v1/push", bearer(k.Token.Reveal()))
	require.Equal(t, http.StatusOK, status)
	before := mem.reads.Load()
	for range 100 {
		status, _, _ := do(t, srv, http.MethodPost, "/api/v1/push", basic("team-a", k.Token.Reveal()))
		require.Equal(t, http.StatusOK, status)
	}
	require.Equal(t, before, mem.reads.Load())
	require.Equal(t, 1.0, testutil.ToFloat64(a.storeReads.WithLabelValues("miss")))
}

func TestOtherModes(t *testing.T) {
	for name, tc := range map[string]struct {
		mode       string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		"trust-header takes X-Scope-OrgID":                     {mode: ModeTrustHeader, header: map[string]string{tenant.Header: "gw-tenant"}, wantStatus: 200, wantBody: "gw-tenant"},
		"trust-header refuses a request without a tenant":      {mode: ModeTrustHeader, wantStatus: 401},
		"trust-header refuses a path-traversal tenant":         {mode: ModeTrustHeader, header: map[string]string{tenant.Header: "../x"}, wantStatus: 400},
		"trust-header refuses an oversize tenant":              {mode: ModeTrustHeader, header: map[string]string{tenant.Header: strings.Repeat("x", 151)}, wantStatus: 400},
		"none puts everything in the fixed tenant":             {mode: ModeNone, wantStatus: 200, wantBody: "dev"},
		"none ignores X-Scope-OrgID":                           {mode: ModeNone, header: map[string]string{tenant.Header: "other"}, wantStatus: 200, wantBody: "dev"},
		"api-keys ignores X-Scope-OrgID without a key":         {mode: ModeAPIKeys, header: map[string]string{tenant.Header: "team-a"}, wantStatus: 401},
		"api-keys ignores X-Scope-OrgID next to a bad key too": {mode: ModeAPIKeys, header: map[string]string{tenant.Header: "team-a", "Authorization": "Bearer x"}, wantStatus: 401},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Mode, cfg.NoneTenant = tc.mode, "dev"
			a, _ := newAuth(t, cfg, NewKeys(newMem()), nil)
			srv := publicServer(t, a)
			status, body, _ := do(t, srv, http.MethodPost, "/api/v1/push", func(r *http.Request) {
				for k, v := range tc.header {
					r.Header.Set(k, v)
				}
			})
			require.Equal(t, tc.wantStatus, status, body)
			if tc.wantBody != "" {
				require.Equal(t, tc.wantBody, body)
			}
		})
	}
}

// TestRepeatedFailuresAreRateLimited: a (source, key) pair that keeps
// failing gets 429 instead of 401 until its bucket refills, but the good
// key from the same source is served, and another source's failures of
// the same key are not blocked.
func TestRepeatedFailuresAreRateLimited(t *testing.T) {
	keys := NewKeys(newMem())
	cfg := testConfig()
	cfg.FailureBurst, cfg.FailureRateLimit = 3, 0.001
	a, _ := newAuth(t, cfg, keys, nil)
	srv := publicServer(t, a)
	k := mustCreate(t, keys, "team-a", ScopeWrite)
	bad := flipLast(k.Token.Reveal())
	for range 3 {
		status, _, _ := do(t, srv, http.MethodPost, "/api/v1/push", bearer(bad))
		require.Equal(t, http.StatusUnauthorized, status)
	}
	status, _, h := do(t, srv, http.MethodPost, "/api/v1/push", bearer(bad))
	require.Equal(t, http.StatusTooManyRequests, status)
	require.NotEmpty(t, h.Get("Retry-After"))
	require.Equal(t, 1.0, testutil.ToFloat64(a.failures.WithLabelValues(reasonRateLimited)))

	status, body, _ := do(t, srv, http.MethodPost, "/api/v1/push", bearer(k.Token.Reveal()))
	require.Equal(t, http.StatusOK, status, "a key that verifies is never refused: %s", body)

	// Another source failing with the same key is not blocked.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/push", nil)
	req.RemoteAddr = "192.0.2.7:1234"
	req.Header.Set("Authorization", "Bearer "+bad)
	a.Middleware(ScopeWrite)(echoTenant).ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
}

func TestFailureLimiter(t *testing.T) {
	l := newFailureLimiter(1, 2)
	now := time.Unix(1000, 0)
	require.False(t, l.active())
	l.fail("a", now)
	l.fail("a", now)
	blocked, wait := l.blocked("a", now)
	require.True(t, blocked)
	require.Equal(t, time.Second, wait)
	blocked, _ = l.blocked("b", now)
	require.False(t, blocked)
	blocked, _ = l.blocked("a", now.Add(time.Second))
	require.False(t, blocked, "one token back after a second")
	// A full sweep forgets refilled sources.
	l.sweep(now.Add(time.Hour))
	require.False(t, l.active())
}

func TestSource(t *testing.T) {
	f := func(remote, want string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		require.Equal(t, want, source(r))
	}
	f("192.0.2.1:5000", "192.0.2.1")
	f("[2001:db8:1:2:3:4:5:6]:5000", "2001:db8:1:2::/64")
	f("[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64")
	f("[::ffff:192.0.2.1]:1", "192.0.2.1")
	f("garbage", "garbage")
}
