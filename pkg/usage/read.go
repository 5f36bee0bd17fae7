package usage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// TenantUsage is one tenant's usage: every instance's row summed.
type TenantUsage struct {
	Tenant   string    `json:"tenant"`
	Counters []Counter `json:"counters"`
}

// Usage returns the tenant's totals: the rows of every instance in the
// table, this instance's replaced by its live totals.
func (l *Ledger) Usage(ctx context.Context, t tenant.ID) (TenantUsage, error) {
	if t == "" {
		return TenantUsage{}, widecolumn.ErrInvalidTenant
	}
	all, err := l.read(ctx, widecolumn.PrefixRange(widecolumn.Usage.AppendTenant(nil, string(t))), string(t))
	if err != nil {
		return TenantUsage{}, err
	}
	if len(all) == 0 {
		return TenantUsage{Tenant: string(t), Counters: []Counter{}}, nil
	}
	return all[0], nil
}

// AllUsage returns every tenant's totals, sorted by tenant.
func (l *Ledger) AllUsage(ctx context.Context) ([]TenantUsage, error) {
	return l.read(ctx, widecolumn.Usage.Range(), "")
}

// read sums the rows of r by tenant; only is the one tenant asked for,
// empty for all.
func (l *Ledger) read(ctx context.Context, r widecolumn.KeyRange, only string) ([]TenantUsage, error) {
	sums := map[string]map[Column]uint64{}
	add := func(t string, cols map[Column]uint64) {
		if sums[t] == nil {
			sums[t] = map[Column]uint64{}
		}
		for c, v := range cols {
			sums[t][c] += v
		}
	}
	var badErr error
	err := l.table.Read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{r}}, func(row widecolumn.Row) bool {
		t, inst, err := widecolumn.Usage.ParseTenant(row.Key)
		if err != nil {
			badErr = err
			return false
		}
		if string(inst) == storedBucketsRow {
			return true // The sizer's measurements, not a figure.
		}
		if string(inst) == l.cfg.InstanceID && l.isLoaded() {
			return true // Its live totals are added below.
		}
		add(string(t), decodeCells(row.Cells))
		return true
	})
	if err == nil {
		err = badErr
	}
	if err != nil {
		return nil, fmt.Errorf("reading the usage ledger: %w", err)
	}
	l.mu.Lock()
	if l.loaded {
		if time.Since(l.lastSync) >= l.readSyncEvery {
			l.syncLocked()
		}
		for t, cols := range l.totals {
			if only == "" || t == only {
				add(t, cols)
			}
		}
	}
	l.mu.Unlock()
	out := make([]TenantUsage, 0, len(sums))
	for _, t := range slices.Sorted(maps.Keys(sums)) {
		tu := TenantUsage{Tenant: t, Counters: make([]Counter, 0, len(sums[t]))}
		for col, v := range sums[t] {
			name, lbls, err := col.Decode()
			if err != nil {
				continue
			}
			if len(lbls) == 0 {
				lbls = nil
			}
			tu.Counters = append(tu.Counters, Counter{Name: name, Labels: lbls, Value: v})
		}
		slices.SortFunc(tu.Counters, func(a, b Counter) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(fmt.Sprint(a.Labels), fmt.Sprint(b.Labels)))
		})
		out = append(out, tu)
	}
	return out, nil
}

func (l *Ledger) isLoaded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loaded
}

// TenantHandler serves GET /api/v1/usage: the usage of the request's
// tenant (from its context, put there by authentication) as JSON
// {"tenant": ..., "counters": [{"name", "labels", "value"}, ...]}.
// A federated tenant is refused: usage is one tenant's.
func (l *Ledger) TenantHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := tenant.FromContext(r.Context())
		if err == nil {
			t, err = tenant.Single(t)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u, err := l.Usage(r.Context(), t)
		if err != nil {
			l.logger.Warn("Reading a tenant's usage failed", "tenant", string(t), "err", err)
			http.Error(w, "reading the usage ledger failed; try again", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, u)
	})
}

// OperatorHandler serves every tenant's usage ({"tenants": [...]}), or one
// tenant's with ?tenant=. It is for the operator listener only.
func (l *Ledger) OperatorHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		var (
			all []TenantUsage
			err error
		)
		if s := r.URL.Query().Get("tenant"); s != "" {
			t, perr := tenant.Parse(s)
			if perr != nil {
				http.Error(w, perr.Error(), http.StatusBadRequest)
				return
			}
			var u TenantUsage
			u, err = l.Usage(r.Context(), t)
			all = []TenantUsage{u}
		} else {
			all, err = l.AllUsage(r.Context())
		}
		if err != nil {
			l.logger.Warn("Reading the usage ledger failed", "err", err)
			http.Error(w, "reading the usage ledger failed; try again", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, struct {
			Tenants []TenantUsage `json:"tenants"`
		}{all})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
