package auth

import (
	"context"
	"fmt"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// TenantKeys is one tenant with the number of keys it has.
type TenantKeys struct {
	Tenant tenant.ID
	// Keys counts the tenant's keys, revoked and expired ones included.
	Keys int
}

// Tenants returns every tenant that has keys, sorted by ID, with its key
// count. It reads one row per tenant (for the all-in-one's banner; a
// cluster with many tenants should not call it on a hot path).
func (s *Keys) Tenants(ctx context.Context) ([]TenantKeys, error) {
	var out []TenantKeys
	ns := widecolumn.APIKeyTenants
	err := s.backend.Read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{ns.Range()}}, func(r widecolumn.Row) bool {
		t, rest, err := ns.ParseTenant(r.Key)
		if err != nil || len(rest) != 0 {
			return true // Not a tenant row of this layout.
		}
		tk := TenantKeys{Tenant: tenant.ID(t)}
		for _, c := range r.Cells {
			if ValidKeyID(string(c.Column)) {
				tk.Keys++
			}
		}
		if tk.Keys > 0 {
			out = append(out, tk)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading the tenants' key rows: %w", err)
	}
	return out, nil
}
