package chunk

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// reservedPrefixEnd is the first byte a tenant row may start with; rows
// below it belong to other users of the table.
const reservedPrefixEnd = 0x01

// Tenants lists the tenants that have at least one row in the store,
// sorted. It reads one row per tenant (a skip scan over the tenant
// prefixes every key starts with), so it costs one backend read per tenant.
// Retention uses it to apply a default retention period to every tenant.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("tenants").Observe(time.Since(start).Seconds()) }()
	// Rows starting with 0x00 are outside every tenant (a tenant ID is
	// never empty, so its length prefix is never 0): other users of the
	// same table (API keys) keep their rows there. Tenants start at 0x01.
	var (
		out  []string
		from = []byte{reservedPrefixEnd}
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
