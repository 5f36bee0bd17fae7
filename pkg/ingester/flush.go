package ingester

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/tsdb"

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
	var errs []error
	for _, t := range i.snapshot() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := i.forceCompact(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.id, err))
		}
	}
	return errors.Join(errs...)
}

func (i *Ingester) forceCompact(ctx context.Context, t *tenantDB) error {
	if err := t.acquire(); err != nil {
		return nil // Deleted or closed under us: nothing to compact.
	}
	defer t.mu.RUnlock()
	t.maintMu.Lock()
	defer t.maintMu.Unlock()

	// Complete ranges first, as the regular cycle does.
	if err := t.db.Compact(ctx); err != nil {
		return fmt.Errorf("compacting: %w", err)
	}
	blockRange := time.Duration(i.cfg.BlockRange).Milliseconds()
	head := t.db.Head()
	// Up to the newest sample now; samples appended meanwhile stay in the
	// head. (After a truncation the head's MaxTime is at least its MinTime
	// even when it holds no sample: the range is fixed up front.)
	mint, maxt := head.MinTime(), head.MaxTime()
	for w := windowStart(mint, blockRange); mint <= maxt && w <= maxt; w += blockRange {
		if err := ctx.Err(); err != nil {
			return err
		}
		// One block per window: up to the window's end or the newest
		// sample, whichever comes first. Block ends are exclusive.
		from, end := max(w, mint), min(w+blockRange, maxt+1)
		if err := t.db.CompactHead(tsdb.NewRangeHead(head, from, end-1)); err != nil {
			return fmt.Errorf("compacting head range [%d, %d): %w", from, end, err)
		}
	}
	if err := t.db.CompactOOOHead(ctx); err != nil {
		return fmt.Errorf("compacting out-of-order head: %w", err)
	}
	t.reportBlocks(i.flusher)
	return nil
}

// windowStart returns the start of the block range holding t (floor, also
// for negative times).
func windowStart(t, blockRange int64) int64 {
	s := t - t%blockRange
	if t%blockRange < 0 {
		s -= blockRange
	}
	return s
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
	i.openMu.Lock()
	defer i.openMu.Unlock()
	i.mu.Lock()
	if i.closing {
		i.mu.Unlock()
		return ErrNotRunning
	}
	tdb := i.tenants[t]
	delete(i.tenants, t)
	i.metrics.memoryTenants.Set(float64(len(i.tenants)))
	i.mu.Unlock()

	var errs []error
	if tdb != nil {
		if err := tdb.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing TSDB of tenant %s: %w", t, err))
		}
	}
	i.metrics.deleteTenant(t)
	// openMu is held: no push can reopen the tenant before its directory
	// is gone.
	if err := os.RemoveAll(filepath.Join(i.cfg.Dir, string(t))); err != nil {
		errs = append(errs, fmt.Errorf("removing directory of tenant %s: %w", t, err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	i.logger.Info("Deleted tenant from the ingester", "tenant", t, "was_open", tdb != nil)
	return nil
}
