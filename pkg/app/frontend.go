package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/frontend"
	"github.com/hearthmetrics/hearth/pkg/frontend/cachegen"
	"github.com/hearthmetrics/hearth/pkg/frontend/queryrange"
	"github.com/hearthmetrics/hearth/pkg/frontend/worker"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// initFrontend builds the query frontend when the process runs it, with
// in-process workers when the process also runs the querier (the
// all-in-one), and the querier's workers when it is a querier told where
// the frontends are (-querier.frontend-address).
func (a *App) initFrontend(explicitSet) error {
	if !a.cfg.has(TargetQueryFrontend) {
		return a.initFrontendWorker()
	}
	if _, err := a.initStore(); err != nil {
		return err
	}
	mw, err := queryrange.New(a.cfg.Frontend.QueryRange, queryrange.Deps{
		Limits:      a.overrides,
		Generations: a.cacheGenerations(),
		Logger:      a.logger.With("component", "query-frontend"),
		Registerer:  a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the query frontend's middlewares: %w", err)
	}
	a.svcs = append(a.svcs, services.New("query-frontend-middlewares", nil, nil, func(error) error { return mw.Close() }))
	fe, err := frontend.New(frontend.Deps{
		Config:     a.cfg.Frontend.Config,
		HTTPPrefix: a.cfg.Querier.HTTPPrefix,
		Limits:     frontendLimits{a.overrides},
		// Split, align, cache and shard, then queue.
		Middleware: mw.Wrap,
		Logger:     a.logger.With("component", "query-frontend"),
		Registerer: a.reg,
		Prove: func(querierID string, challenge []byte) []byte {
			return a.cluster.Prove(frontend.ProofPurpose, []byte(querierID), challenge)
		},
	})
	if err != nil {
		return fmt.Errorf("building the query frontend: %w", err)
	}
	prefix := a.cfg.Querier.HTTPPrefix
	a.servers.mux.Handle(prefix+"/", a.tenantHTTP(auth.ScopeRead, fe.Handler()))
	// Rules configuration and state are the rulers': proxied with the
	// caller's credentials, which the ruler checks (the rules scope).
	if proxy := fe.RulerProxy(); proxy != nil {
		for _, p := range frontend.RulerPaths(prefix) {
			a.servers.mux.Handle(p, proxy)
		}
	}
	if a.querier != nil {
		// The all-in-one: the frontend's queue feeds this process's querier
		// handler directly. These loops end once the frontend has drained
		// and closed its queue, which happens before this service is asked
		// to stop (services stop in reverse order): the service then waits
		// for its own stop, so that ending first is not taken for a failure.
		handler := a.querier.Handler()
		n := a.cfg.Querier.Worker.Parallelism
		a.svcs = append(a.svcs, services.New("query-frontend-in-process-workers", nil, func(ctx context.Context) error {
			fe.RunInProcess(ctx, "in-process", n, handler)
			<-ctx.Done()
			return nil
		}, nil))
	} else {
		fe.RegisterGRPC(a.servers.grpc)
		a.addLocalAudiences()
		// Series deletion is the queriers' (they reach every ingester and
		// the store), queued like a query but only for the admin scope.
		// The all-in-one's querier serves it directly (initQuerier).
		a.servers.mux.Handle(prefix+deleteSeriesPath, a.tenantHTTP(auth.ScopeAdmin, fe.Handler()))
	}
	a.svcs = append(a.svcs, fe.Service())
	return nil
}

// initFrontendWorker starts the querier's workers when it was told where
// the query frontends are.
func (a *App) initFrontendWorker() error {
	if a.querier == nil || a.cfg.Querier.Worker.FrontendAddress == "" {
		return nil
	}
	host, port, err := advertisedAddr(a.servers.GRPCAddr())
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Deps{
		Config:         a.cfg.Querier.Worker,
		QuerierID:      net.JoinHostPort(host, strconv.Itoa(port)),
		Handler:        a.pulledQueries(),
		DialOptions:    a.cluster.DialOptions(),
		MaxMessageSize: a.cfg.maxMessageSize(),
		Logger:         a.logger.With("component", "frontend-worker"),
		Registerer:     a.reg,
		VerifyFrontend: func(querierID string, challenge, proof []byte) bool {
			return a.cluster.VerifyProof(proof, frontend.ProofPurpose, []byte(querierID), challenge)
		},
	})
	if err != nil {
		return fmt.Errorf("building the query frontend workers: %w", err)
	}
	// After the querier: the workers stop first, answering what they run.
	a.svcs = append(a.svcs, w.Service())
	return nil
}

// addLocalAudiences accepts calls dialled to any of this host's addresses
// at the gRPC port: queriers dial the frontend by the addresses its DNS
// name resolves to, which the process cannot know otherwise.
func (a *App) addLocalAudiences() {
	_, port, err := net.SplitHostPort(a.servers.GRPCAddr())
	if err != nil {
		return
	}
	a.cluster.AddAudience(net.JoinHostPort("localhost", port))
	addrs, _ := net.InterfaceAddrs()
	for _, addr := range addrs {
		if ipn, ok := addr.(*net.IPNet); ok {
			a.cluster.AddAudience(net.JoinHostPort(ipn.IP.String(), port))
		}
	}
}

// frontendLimits reads the frontend's per-tenant limits.
type frontendLimits struct{ o *limits.Overrides }

func (l frontendLimits) MaxQueriersPerTenant(id tenant.ID) int {
	return l.o.For(id).MaxQueriersPerTenant
}

func (l frontendLimits) MaxOutstandingPerTenant(id tenant.ID) int {
	return l.o.For(id).MaxOutstandingPerTenant
}

// deleteSeriesPath is series deletion's path under the HTTP prefix.
const deleteSeriesPath = "/api/v1/admin/tsdb/delete_series"

// pulledQueries is what a querier's workers run for the frontends: the
// querier's API and series deletion, which the frontend let through only
// with the admin scope (the worker stream carries the tenant, never the
// scope, so the frontend is where it is checked).
func (a *App) pulledQueries() http.Handler {
	mux := http.NewServeMux()
	prefix := a.cfg.Querier.HTTPPrefix
	mux.Handle(prefix+"/", a.querier.Handler())
	mux.Handle(prefix+deleteSeriesPath, a.querier.DeleteSeriesHandler(a.bumpCacheGeneration))
	return mux
}

// cacheGenerations returns the process's reader and writer of results-cache
// generations (pkg/frontend/cachegen), over the store: frontends read them,
// series and tenant deletion bump them, in whatever process those run.
func (a *App) cacheGenerations() *cachegen.Generations {
	if a.cachegen == nil {
		a.cachegen = cachegen.New(a.storeBackend, 0, nil)
	}
	return a.cachegen
}

// bumpCacheGeneration makes every cached result of t stale: series
// deletion calls it once the data is deleted.
func (a *App) bumpCacheGeneration(ctx context.Context, t tenant.ID) error {
	_, err := a.cacheGenerations().Bump(ctx, string(t))
	return err
}
