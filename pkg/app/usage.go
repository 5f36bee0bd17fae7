package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/usage"
)

// initUsage builds the process's usage ledger before the components that
// count billing figures: they register their counters through
// a.usageReg, so the ledger can continue them from its rows when it
// starts. Its service runs right after the store's and before the
// servers' (see New): it loads before the first request, and its last
// write comes after the servers have answered their last request, before
// the store closes.
func (a *App) initUsage() error {
	if _, err := a.initStore(); err != nil {
		return err
	}
	var err error
	a.usage, err = usage.New(usage.Deps{
		Config:     a.cfg.Usage,
		Table:      a.storeBackend,
		Gatherer:   a.reg,
		Logger:     a.logger.With("component", "usage"),
		Registerer: a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the usage ledger: %w", err)
	}
	a.usageReg = a.usage.WrapRegisterer(a.reg)
	return nil
}

// registerUsageRoutes serves the ledger: a tenant's own usage on the
// public listener (read scope) where tenants reach this process, and
// every tenant's on the operator listener.
func (a *App) registerUsageRoutes() {
	if a.cfg.has(TargetDistributor) || a.cfg.has(TargetQuerier) || a.cfg.has(TargetQueryFrontend) {
		a.servers.mux.Handle("GET /api/v1/usage", a.tenantHTTP(auth.ScopeRead, a.usage.TenantHandler()))
	}
	a.servers.internal.Handle("/usage", a.usage.OperatorHandler())
}

// billingRegisterer is the registerer of the components whose counters the
// usage ledger keeps.
func (a *App) billingRegisterer() prometheus.Registerer {
	if a.usageReg == nil {
		return a.reg
	}
	return a.usageReg
}
