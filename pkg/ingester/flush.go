package ingester

import (
	"context"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// ForceCompact compacts the whole head of every tenant into blocks, the
// current, incomplete block range and the out-of-order head included, and
// tells the flusher of the new blocks. It is the first half of "flush
// everything now" (POST /ingester/flush, scale-down); the flusher's wait for
// an empty queue is the second.
//
// Each block still covers at most one -ingester.block-range window. After a
// forced compaction the head starts after the newest sample it had: a later
// sample older than that is refused as out of bounds (or goes to the
// out-of-order head when the tenant has an out-of-order window), as it
// would be after a regular compaction.
func (i *Ingester) ForceCompact(ctx context.Context) error {
	if err := i.checkRunning(); err != nil {
		return err
	}
	return i.dbs.forceCompactAll(ctx)
}

// DeleteTenant removes everything this ingester holds for t: it closes
// t's TSDB after the calls in flight, deletes its directory (head, WAL,
// local blocks, flushed or not), and drops its exemplars, metadata and
// per-tenant metrics. A later push starts t afresh. It does not touch the
// chunk store, and with replication every ingester holding t must be
// called (see package retention).
func (i *Ingester) DeleteTenant(_ context.Context, t tenant.ID) error {
	if err := i.checkRunning(); err != nil {
		return err
	}
	return i.dbs.remove(t)
}
