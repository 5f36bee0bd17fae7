// Package configapitest runs the rules configuration API (package
// ruler/configapi) on a real HTTP server on 127.0.0.1 for tests: a Pebble
// store, real API keys and the authentication middleware as the wiring
// mounts them, and the default limits.
package configapitest

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/ruler/configapi"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulestore"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
)

// Prefix is the querier's HTTP prefix the server mounts the API under.
const Prefix = "/prometheus"

// Server is the API on a test HTTP server.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL       string
	Store     *rulestore.Store
	Overrides *limits.Overrides
	Registry  *prometheus.Registry

	keys    *auth.Keys
	mu      sync.Mutex
	changes map[tenant.ID]int
}

// New starts the API with maxBytes as -ruler.max-rule-group-bytes (0: the
// default); everything stops when the test ends.
func New(t testing.TB, maxBytes int) *Server {
	t.Helper()
	b := backendtest.NewPebble(t)
	var defaults limits.Limits
	defaults.RegisterFlags(flag.NewFlagSet("limits", flag.PanicOnError))
	s := &Server{
		Store:     rulestore.New(b),
		Overrides: limits.NewOverrides(defaults),
		Registry:  prometheus.NewPedanticRegistry(),
		keys:      auth.NewKeys(b),
		changes:   map[tenant.ID]int{},
	}
	a, err := auth.New(auth.Deps{
		Config:        auth.Config{Mode: auth.ModeAPIKeys, CacheTTL: 5 * time.Second, FailureRateLimit: 1, FailureBurst: 10_000},
		Keys:          s.keys,
		OperatorToken: auth.NewSecret("operator-secret-for-tests"),
		Registerer:    prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	api, err := configapi.New(configapi.Deps{
		Store:  s.Store,
		Limits: s.Overrides,
		OnChange: func(id tenant.ID) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.changes[id]++
		},
		MaxRuleGroupBytes: maxBytes,
		Registerer:        s.Registry,
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	api.Register(mux, Prefix, func(scope auth.Scope, h http.Handler) http.Handler { return a.Middleware(scope)(h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Key creates an API key of tenant t with scopes and returns its token.
func (s *Server) Key(t testing.TB, id tenant.ID, scopes auth.Scope) string {
	t.Helper()
	c, err := s.keys.Create(context.Background(), auth.CreateRequest{Tenant: id, Scopes: scopes})
	require.NoError(t, err)
	return c.Token.Reveal()
}

// Changes returns how often OnChange was called for tenant id.
func (s *Server) Changes(id tenant.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changes[id]
}

// SetLimits gives tenant id the default limits changed by mutate.
func (s *Server) SetLimits(id tenant.ID, mutate func(*limits.Limits)) {
	l := s.Overrides.Defaults()
	mutate(&l)
	all := map[tenant.ID]*limits.Limits{}
	for k, v := range s.Overrides.All() {
		all[k] = v
	}
	all[id] = &l
	s.Overrides.Set(all)
}
