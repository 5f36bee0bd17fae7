package ingester

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/tsdb"
)

// maintainAll runs one maintenance cycle over every tenant: see
// [Ingester.Compact].
func (s *tenantDBs) maintainAll(ctx context.Context) error {
	var errs []error
	cutoff := s.now().Add(-time.Duration(s.cfg.MetadataRetainPeriod))
	for _, t := range s.snapshot() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.maintain(ctx, t, cutoff); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *tenantDBs) maintain(ctx context.Context, t *tenantDB, metadataCutoff time.Time) error {
	if err := t.acquire(); err != nil {
		return nil // Closed under us: nothing to maintain.
	}
	defer t.mu.RUnlock()
	if t.walErr.Load() != nil {
		// Its WAL is torn: the WAL truncation after a compaction would
		// fail; the DB is reopened first.
		return nil
	}
	t.maintMu.Lock()
	defer t.maintMu.Unlock()

	lim := s.overrides.For(t.id)
	err := t.applyLimits(time.Duration(lim.OutOfOrderTimeWindow).Milliseconds(), int64(lim.MaxExemplars))
	err = errors.Join(err, t.compact(ctx, s.flusher))
	n := t.metadata.purge(metadataCutoff)
	s.metrics.memoryMetadata.WithLabelValues(string(t.id)).Set(float64(n))
	return err
}

// forceCompactAll compacts the whole head of every tenant: see
// [Ingester.ForceCompact].
func (s *tenantDBs) forceCompactAll(ctx context.Context) error {
	var errs []error
	for _, t := range s.snapshot() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.forceCompact(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *tenantDBs) forceCompact(ctx context.Context, t *tenantDB) error {
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
	blockRange := time.Duration(s.cfg.BlockRange).Milliseconds()
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
	t.reportBlocks(s.flusher)
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
