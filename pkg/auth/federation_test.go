package auth

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TestFederatedReads: with tenant federation on, a key reads several
// tenants only where it was granted them, only to read; with it off, a
// federated tenant is refused whatever the key.
func TestFederatedReads(t *testing.T) {
	keys := NewKeys(newMem())
	granted, err := keys.Create(context.Background(), CreateRequest{Tenant: "team-a", Scopes: ScopeRead | ScopeWrite | ScopeRules, ReadTenants: []tenant.ID{"team-c", "team-b", "team-b"}})
	require.NoError(t, err)
	require.Equal(t, []tenant.ID{"team-b", "team-c"}, granted.Key.ReadTenants, "grants are sorted, without repeats")
	plain := mustCreate(t, keys, "team-a", ScopeRead)
	tok, plainTok := granted.Token.Reveal(), plain.Token.Reveal()
	const query, push, rules = "/prometheus/api/v1/query", "/api/v1/push", "/prometheus/config/v1/rules"

	for _, federation := range []bool{true, false} {
		cfg := testConfig()
		cfg.FailureBurst = 10_000
		a, _ := newAuth(t, cfg, keys, nil)
		a.federation = federation
		srv := publicServer(t, a)
		for name, tc := range map[string]struct {
			method, path string
			cred         cred
			on, off      int    // status with federation on and off
			body         string // with federation on
		}{
			"own tenant":                     {http.MethodGet, query, basic("team-a", tok), 200, 200, "team-a"},
			"a granted tenant alone":         {http.MethodGet, query, basic("team-b", tok), 200, 200, "team-b"},
			"own and granted, in any order":  {http.MethodGet, query, basic("team-b|team-a|team-c", tok), 200, 400, "team-a|team-b|team-c"},
			"a tenant not granted":           {http.MethodGet, query, basic("team-a|team-d", tok), 403, 400, "does not belong to tenant team-d and grants no read on it"},
			"a key without grants":           {http.MethodGet, query, basic("team-a|team-b", plainTok), 403, 400, "team-b"},
			"a granted tenant's push":        {http.MethodPost, push, basic("team-b", tok), 403, 403, "does not belong to tenant team-b"},
			"a federated push":               {http.MethodPost, push, basic("team-a|team-b", tok), 400, 400, "tenant"},
			"a federated rules request":      {http.MethodGet, rules, basic("team-a|team-b", tok), 400, 400, "tenant"},
			"an invalid tenant in the list":  {http.MethodGet, query, basic("team-a|../x", tok), 400, 400, "tenant 2"},
			"an empty tenant in the list":    {http.MethodGet, query, basic("team-a|", tok), 400, 400, "tenant 2"},
			"Bearer reads the key's own one": {http.MethodGet, query, bearer(tok), 200, 200, "team-a"},
		} {
			t.Run(name, func(t *testing.T) {
				want := tc.on
				if !federation {
					want = tc.off
				}
				status, body, _ := do(t, srv, tc.method, tc.path, tc.cred)
				require.Equal(t, want, status, body)
				if federation {
					require.Contains(t, body, tc.body)
				}
			})
		}
	}
}

func TestReadTenantsNeedTheReadScope(t *testing.T) {
	keys := NewKeys(newMem())
	for name, req := range map[string]CreateRequest{
		"write only":           {Tenant: "a", Scopes: ScopeWrite, ReadTenants: []tenant.ID{"b"}},
		"its own tenant":       {Tenant: "a", Scopes: ScopeRead, ReadTenants: []tenant.ID{"a"}},
		"an invalid tenant":    {Tenant: "a", Scopes: ScopeRead, ReadTenants: []tenant.ID{"b|c"}},
		"too many to federate": {Tenant: "a", Scopes: ScopeRead, ReadTenants: make([]tenant.ID, tenant.MaxFederated)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := keys.Create(context.Background(), req)
			require.ErrorIs(t, err, ErrInvalidRequest)
		})
	}
}

func TestTrustHeaderFederation(t *testing.T) {
	for name, tc := range map[string]struct {
		federation bool
		path       string
		status     int
	}{
		"on, a read":  {true, "/prometheus/api/v1/query", 200},
		"on, a push":  {true, "/api/v1/push", 400},
		"off, a read": {false, "/prometheus/api/v1/query", 400},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Mode = ModeTrustHeader
			a, _ := newAuth(t, cfg, NewKeys(newMem()), nil)
			a.federation = tc.federation
			srv := publicServer(t, a)
			method := http.MethodGet
			if tc.path == "/api/v1/push" {
				method = http.MethodPost
			}
			status, body, _ := do(t, srv, method, tc.path, func(r *http.Request) { r.Header.Set(tenant.Header, "b|a") })
			require.Equal(t, tc.status, status, body)
			if status == 200 {
				require.Equal(t, "a|b", body)
			}
		})
	}
}
