package chunk

import (
	"context"
	"errors"
	"time"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Tenants lists the tenants that have at least one row in the store,
// sorted: a skip scan of namespace widecolumn.Chunks, one backend read per
// tenant ([widecolumn.Tenants]). Rows of the other namespaces (API keys,
// rules, ...) are outside it. Retention uses it to apply a default
// retention period to every tenant.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("tenants").Observe(time.Since(start).Seconds()) }()
	out, err := widecolumn.Tenants(ctx, s.timed(), widecolumn.Chunks)
	if errors.Is(err, ErrCorrupt) {
		s.metrics.corruptRows.Inc()
	}
	return out, err
}
