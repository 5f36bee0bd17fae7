package chunk

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Tenants lists the tenants that have at least one row in the store,
// sorted. It reads one row per tenant (a skip scan over the tenant
// prefixes every key starts with), so it costs one backend read per tenant.
// Retention uses it to apply a default retention period to every tenant.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("tenants").Observe(time.Since(start).Seconds()) }()
	var (
		out  []string
		from []byte
	)
	for {
		var key []byte
		err := s.read(ctx, ReadRequest{Ranges: []KeyRange{{Start: from}}, Limit: 1, CellsPerRow: 1}, func(r Row) bool {
			key = r.Key
			return false
		})
		if err != nil {
			return nil, fmt.Errorf("listing tenants: %w", err)
		}
		if key == nil {
			break
		}
		tenant, _, err := readBytes(key)
		if err == nil && len(tenant) == 0 {
			err = fmt.Errorf("%w: empty tenant in key", ErrCorrupt)
		}
		if err != nil {
			s.metrics.corruptRows.Inc()
			return nil, fmt.Errorf("listing tenants: %w", err)
		}
		out = append(out, string(tenant))
		from = PrefixEnd(appendTenant(nil, string(tenant)))
		if from == nil {
			break
		}
	}
	// Keys order tenants by length first (the length prefix); callers want
	// them by name.
	slices.Sort(out)
	return out, nil
}
