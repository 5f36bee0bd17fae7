package app

import (
	"fmt"
	"net/http"

	"github.com/hearthmetrics/hearth/pkg/auth"
)

// initAuth builds the authenticator (API keys in the store, the operator
// credential) and the cluster credential of internal gRPC. It runs before
// the servers are built, which need the gRPC server options.
func (a *App) initAuth() error {
	var err error
	a.cluster, err = auth.NewCluster(a.cfg.Auth, auth.ClusterOptions{
		// The all-in-one only talks to itself: a random secret will do.
		GenerateSecret: a.cfg.has(TargetAll),
		AllowOpen:      a.cfg.Auth.Mode == auth.ModeNone,
		Registerer:     a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the cluster credential (set -auth.cluster-secret-file or -auth.grpc-tls-*): %w", err)
	}
	a.operatorToken, err = auth.LoadOrCreateOperatorToken(a.cfg.Auth.OperatorTokenFile)
	if err != nil {
		return fmt.Errorf("loading the operator credential: %w", err)
	}
	if a.operatorToken.Exposed {
		a.logger.Warn("The operator credential file is readable by group or others; restrict it to 0600", "path", a.operatorToken.Path, "flag", "-auth.operator-token-file")
	}
	return nil
}

// initAuthenticator builds the authenticator over the store's key rows.
func (a *App) initAuthenticator() error {
	if _, err := a.initStore(); err != nil {
		return err
	}
	a.keys = auth.NewKeys(a.storeBackend)
	var err error
	a.auth, err = auth.New(auth.Deps{
		Config:        a.cfg.Auth,
		Keys:          a.keys,
		OperatorToken: a.operatorToken.Token,
		Federation:    a.cfg.TenantFederation.Enabled,
		Cluster:       a.cluster,
		Logger:        a.logger.With("component", "auth"),
		Registerer:    a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the authenticator: %w", err)
	}
	a.svcs = append(a.svcs, a.auth.Service())
	a.servers.internal.Handle("/admin/", auth.NewAdminHandler(auth.AdminDeps{
		Keys:         a.keys,
		Auth:         a.auth,
		DeleteTenant: a.deleteTenant,
		Logger:       a.logger.With("component", "admin"),
	}))
	a.servers.internalSrv.Handler = a.operatorOnly(a.servers.internal)
	return nil
}

// tenantHTTP binds a public request to its tenant: the one place where that
// happens. The scope is what the route needs (write for pushes, read for
// queries). It also sets the route's write deadline: a push is answered
// within -server.http-write-timeout, a query within -querier.timeout plus
// that.
func (a *App) tenantHTTP(scope auth.Scope, next http.Handler) http.Handler {
	deadline := a.cfg.Server.HTTP.WriteTimeout
	if scope != auth.ScopeWrite {
		deadline += a.cfg.Querier.Timeout
	}
	return withWriteDeadline(a.auth.Middleware(scope)(a.tenantRequests.wrap(next)), deadline)
}

// operatorOnly requires the operator credential on the internal listener,
// except for /ready and /metrics, which probes and scrapers read.
func (a *App) operatorOnly(mux http.Handler) http.Handler {
	guarded := a.auth.Operator(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/ready" || p == "/metrics" {
			mux.ServeHTTP(w, r)
			return
		}
		if msg := operatorMiss(r.URL.Path, a.cfg.Querier.HTTPPrefix, a.HTTPAddr()); msg != "" {
			writeHint(w, r, http.StatusNotFound, msg)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}
