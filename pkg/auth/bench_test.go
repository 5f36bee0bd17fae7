package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// sink defeats dead-code elimination.
var sink int

// BenchmarkCachedAuth is authentication's cost on the push path with a
// cached key: the middleware around a handler that does nothing, minus the
// handler ("none" is the floor: binding a fixed tenant).
func BenchmarkCachedAuth(b *testing.B) {
	keys := NewKeys(newMem())
	k := mustCreate(b, keys, "team-a", ScopeWrite)
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sink++ })
	for _, bc := range []struct {
		name, mode string
		set        func(r *http.Request)
	}{
		{"bearer", ModeAPIKeys, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k.Token.Reveal()) }},
		{"basic", ModeAPIKeys, func(r *http.Request) { r.SetBasicAuth("team-a", k.Token.Reveal()) }},
		{"trust-header", ModeTrustHeader, func(r *http.Request) { r.Header.Set("X-Scope-OrgID", "team-a") }},
		{"none", ModeNone, func(*http.Request) {}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig()
			cfg.Mode = bc.mode
			a, _ := newAuth(b, cfg, keys, nil)
			h := a.Middleware(ScopeWrite)(noop)
			req := httptest.NewRequest(http.MethodPost, "/api/v1/push", nil)
			bc.set(req)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req) // warm the cache
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
