package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// LocalDeleter removes a tenant from one of the process's components.
// *ingester.Ingester and *flusher.Flusher implement it. It must be
// idempotent: deleting an unknown tenant succeeds.
type LocalDeleter interface {
	DeleteTenant(ctx context.Context, t tenant.ID) error
}

// StoreCaches forgets a tenant whose rows were dropped: the chunk store
// client's caches and per-tenant metrics. *chunk.Store implements it.
type StoreCaches interface {
	ForgetTenant(tenant string)
}

// DeleterDeps are what NewDeleter needs.
type DeleterDeps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Table is the wide-column table: the tenant's rows are dropped from
	// every namespace of it (widecolumn.DeleteTenant: API keys, rules,
	// Alertmanager state, chunks and index, ...). Nil in a process without
	// a store client.
	Table widecolumn.ReadDropper
	// Store forgets the tenant after the drop, so no read in between puts
	// its rows back in a cache. May be nil.
	Store StoreCaches
	// Local are deleted from in order, before the table: the ingester
	// before the flusher (so no new block is queued), the flusher before
	// the table (so no flush in progress writes rows after the drop).
	Local []LocalDeleter
}

// Deleter deletes tenants: from the process's local components, in order,
// then from every namespace of the wide-column table. Its ServeHTTP is the
// operator endpoint.
type Deleter struct {
	local   []LocalDeleter
	table   widecolumn.ReadDropper
	store   StoreCaches
	logger  *slog.Logger
	deleted prometheus.Counter
}

// NewDeleter returns a deleter.
func NewDeleter(d DeleterDeps) *Deleter {
	return &Deleter{
		local:  d.Local,
		table:  d.Table,
		store:  d.Store,
		logger: d.Logger,
		deleted: promauto.With(d.Registerer).NewCounter(prometheus.CounterOpts{
			Name: "hearth_retention_deleted_tenants_total",
			Help: "Tenant deletions completed by this process.",
		}),
	}
}

// DeleteTenant deletes t. It stops at the first failure: calling it again
// resumes (every step is idempotent).
func (d *Deleter) DeleteTenant(ctx context.Context, t tenant.ID) error {
	for _, l := range d.local {
		if err := l.DeleteTenant(ctx, t); err != nil {
			return fmt.Errorf("deleting tenant %s locally: %w", t, err)
		}
	}
	if d.table != nil {
		if err := widecolumn.DeleteTenant(ctx, d.table, string(t)); err != nil {
			return fmt.Errorf("deleting tenant %s from the store: %w", t, err)
		}
	}
	if d.store != nil {
		d.store.ForgetTenant(string(t))
	}
	d.deleted.Inc()
	d.logger.Info("Deleted tenant", "tenant", t)
	return nil
}

// ServeHTTP deletes the tenant named by the {tenant} path wildcard (mount
// it as "DELETE /api/v1/admin/tenants/{tenant}") or, failing that, by the
// tenant query parameter ("POST /admin/tenants/delete?tenant=..."). It
// answers 204 once done, 400 for a missing or invalid tenant, 500 (retry)
// on failure.
func (d *Deleter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete && r.Method != http.MethodPost {
		w.Header().Set("Allow", "DELETE, POST")
		http.Error(w, "use DELETE or POST", http.StatusMethodNotAllowed)
		return
	}
	name := r.PathValue("tenant")
	if name == "" {
		name = r.URL.Query().Get("tenant")
	}
	if name == "" {
		http.Error(w, tenant.ErrMissing.Error(), http.StatusBadRequest)
		return
	}
	t, err := tenant.Parse(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := d.DeleteTenant(r.Context(), t); err != nil {
		d.logger.Warn("Deleting tenant failed", "tenant", t, "err", err)
		code := http.StatusInternalServerError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
