package ingester

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantDB is one tenant's storage: a Prometheus TSDB (head, WAL, compacted
// blocks, exemplars) with its own metrics registry, plus the tenant's
// metadata, series counts and ingestion rates.
type tenantDB struct {
	id        tenant.ID
	dir       string
	db        tenantStorage
	reg       *prometheus.Registry
	wal       *walWatch
	syncer    *walSyncer // nil without -ingester.wal-fsync
	limiter   *seriesLimiter
	metadata  *metadataStore
	overrides *limits.Overrides
	logger    *slog.Logger // with the tenant
	apiRate   ewmaRate
	ruleRate  ewmaRate

	// Touched only by the maintenance loop (and Compact), one at a time.
	maintMu     sync.Mutex
	knownBlocks map[ulid.ULID]struct{}

	// limitsMu serialises changes of the DB's out-of-order window and
	// exemplar buffer (the maintenance loop's applyLimits, a push's first
	// exemplars) and guards appliedOOO and appliedMaxExem.
	limitsMu       sync.Mutex
	appliedOOO     int64
	appliedMaxExem int64
	// exemplarsOn is set once the exemplar buffer follows the tenant's
	// limit: the tenant has sent exemplars, or its WAL held some. Until
	// then the buffer has size 0 (see exemplars.go).
	exemplarsOn atomic.Bool

	// oooWindow is the applied out-of-order window, for Push.
	oooWindow atomic.Int64
	// walErr is set by the first failed WAL write: the tenant's pushes are
	// refused until the DB is reopened (see wal.go). commits counts the
	// commits in flight.
	walErr  atomic.Pointer[walError]
	commits atomic.Int64

	// mu guards closed: calls hold it for reading while they use db, Close
	// takes it for writing.
	mu     sync.RWMutex
	closed bool
}

// headChunksWriteBuffer is the size of the buffer through which a tenant's
// head writes its full chunks to its chunk files. Each tenant holds one
// from its first full chunk on (after ~30 min of scrapes every 15s): the
// TSDB's default, 4 MiB, is most of what a small tenant costs. 64 KiB is
// the TSDB's minimum; BenchmarkHeadChunksWrite measures no difference in
// the time to write chunks between 64 KiB and 4 MiB (a tenant with
// 1,000,000 series writes ~550 chunks/s, ~100 KB/s: two writes a second).
const headChunksWriteBuffer = 64 << 10

// open opens (or creates) t's TSDB in <dir>/<t>, replaying its WAL.
// stats, optional, reports the replay's progress.
func (s *tenantDBs) open(t tenant.ID, stats *tsdb.DBStats) (*tenantDB, error) {
	lim := s.overrides.For(t)
	tdb := &tenantDB{
		id:          t,
		dir:         filepath.Join(s.cfg.Dir, string(t)),
		reg:         prometheus.NewRegistry(),
		limiter:     newSeriesLimiter(t, s.overrides, s.ring, s.metrics.memorySeries.WithLabelValues(string(t)), &s.instanceSeries, s.cfg.InstanceLimits.MaxSeries),
		metadata:    newMetadataStore(t),
		overrides:   s.overrides,
		logger:      s.logger.With("tenant", t),
		knownBlocks: map[ulid.ULID]struct{}{},
	}
	blockRange := time.Duration(s.cfg.BlockRange).Milliseconds()
	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = blockRange
	// Blocks are never merged locally: each one is one window for the
	// flusher, written to the chunk store once.
	opts.MaxBlockDuration = blockRange
	opts.EnableOverlappingCompaction = false
	// A compaction preallocates one chunk file of this size, whatever the
	// block's size: at the default 512 MiB, compacting a small tenant
	// fails on a disk with less free space than that. See
	// -ingester.min-free-disk-space-bytes.
	opts.MaxBlockChunkSegmentSize = 64 << 20
	opts.RetentionDuration = time.Duration(s.cfg.RetentionPeriod).Milliseconds()
	opts.WALCompression = compression.Type(s.cfg.WALCompression)
	opts.StripeSize = s.cfg.TSDBStripeSize
	opts.HeadChunksWriteBufferSize = s.headChunksWriteBufferSize
	opts.BlocksToDelete = s.blocksToDelete(t)
	opts.OutOfOrderTimeWindow = time.Duration(lim.OutOfOrderTimeWindow).Milliseconds()
	// Exemplar storage is on, with an empty buffer unless the WAL may hold
	// exemplars; it grows to the limit on the tenant's first exemplars.
	opts.EnableExemplarStorage = true
	opts.MaxExemplars = int64(lim.MaxExemplars)
	if hasNoExemplarsFile(tdb.dir) {
		opts.MaxExemplars = 0
	}
	opts.SeriesLifecycleCallback = tdb.limiter
	// Query sharding: the head keeps labels.StableHash of every series so
	// a __query_shard__ matcher selects through SelectHints (see package
	// queryshard); without it the head answers "sharding is disabled".
	opts.EnableSharding = true
	// No isolation, as in Cortex (#4825) and Mimir (#1652): it keeps
	// queries from seeing part of an append, but a remote-write request
	// is no transaction anyway (a scrape is split over requests, each
	// sharded over ingesters), and it costs every series a ring of
	// append IDs (~60 bytes) and every append and commit its bookkeeping.
	opts.IsolationDisabled = true
	tdb.appliedOOO, tdb.appliedMaxExem = opts.OutOfOrderTimeWindow, opts.MaxExemplars
	tdb.oooWindow.Store(opts.OutOfOrderTimeWindow)
	tdb.wal = newWALWatch(tdb.reg)
	if s.cfg.WALFsync {
		tdb.syncer = newWALSyncer(tdb.dir)
	}

	fail := func(err error) (*tenantDB, error) {
		tdb.limiter.release()
		s.metrics.memorySeries.DeleteLabelValues(string(t))
		return nil, fmt.Errorf("opening TSDB of tenant %s: %w", t, err)
	}
	if err := restoreInterruptedRepairs(tdb.dir, s.logger, t); err != nil {
		return fail(err)
	}
	// The TSDB opens a WBL with an out-of-order window or a WBL on disk
	// (Prometheus v0.316 tsdb/db.go open).
	wblSize, err := fileutil.DirSize(filepath.Join(tdb.dir, wlog.WblDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Errorf("sizing the WBL: %w", err))
	}
	db, err := tsdb.Open(tdb.dir, tdb.logger, tdb.wal, opts, stats)
	if err != nil {
		return fail(err)
	}
	if err := tdb.wal.checkWatching(opts.OutOfOrderTimeWindow > 0 || wblSize > 0); err != nil {
		return fail(errors.Join(err, db.Close()))
	}
	// The ingester compacts on its own schedule, so it knows when a block
	// appears (see maintain).
	db.DisableCompactions()
	tdb.db = tenantStorage{DB: db, t: tdb}
	if err := tdb.settleExemplars(); err != nil {
		return fail(errors.Join(err, db.Close()))
	}
	tdb.limiter.enforcing.Store(true)
	return tdb, nil
}

// blocksToDelete decides which of t's local blocks the DB removes: blocks
// already merged into another, and blocks whose end is older than the
// retention period once the flusher (if any) has them in the store.
func (s *tenantDBs) blocksToDelete(t tenant.ID) tsdb.BlocksToDeleteFunc {
	return func(blocks []*tsdb.Block) map[ulid.ULID]struct{} {
		cutoff := s.now().Add(-time.Duration(s.cfg.RetentionPeriod)).UnixMilli()
		del := map[ulid.ULID]struct{}{}
		for _, b := range blocks {
			m := b.Meta()
			switch {
			case m.Compaction.Deletable:
				del[m.ULID] = struct{}{}
			case m.MaxTime > cutoff:
			case s.flusher != nil && !s.flusher.Flushed(t, m):
			default:
				del[m.ULID] = struct{}{}
			}
		}
		return del
	}
}

// acquire takes a read hold on the DB; it fails once the DB is closed.
// The caller releases with t.mu.RUnlock.
func (t *tenantDB) acquire() error {
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return errTenantClosed
	}
	return nil
}

// close waits for calls in flight and closes the DB.
func (t *tenantDB) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.syncer != nil {
		t.syncer.close()
	}
	err := t.db.Close()
	t.limiter.release()
	return err
}

// applyLimits applies changes of the tenant's out-of-order window and
// exemplar limit to the open DB. The exemplar buffer of a tenant that never
// sent exemplars stays empty whatever the limit.
func (t *tenantDB) applyLimits(oooWindow, maxExemplars int64) error {
	t.limitsMu.Lock()
	defer t.limitsMu.Unlock()
	if !t.exemplarsOn.Load() {
		maxExemplars = 0
	}
	if err := t.applyConfigLocked(oooWindow, maxExemplars); err != nil {
		return err
	}
	// The TSDB has a WBL from the first out-of-order window on: every
	// maintenance cycle fails while the WBL's failure counter is not
	// watched.
	return t.wal.checkWatching(t.appliedOOO > 0)
}

// applyConfigLocked sets the DB's out-of-order window and exemplar buffer
// size. Called with limitsMu held.
func (t *tenantDB) applyConfigLocked(oooWindow, maxExemplars int64) error {
	if oooWindow == t.appliedOOO && maxExemplars == t.appliedMaxExem {
		return nil
	}
	err := t.db.ApplyConfig(&config.Config{StorageConfig: config.StorageConfig{
		TSDBConfig:      &config.TSDBConfig{OutOfOrderTimeWindow: oooWindow},
		ExemplarsConfig: &config.ExemplarsConfig{MaxExemplars: maxExemplars},
	}})
	if err != nil {
		return fmt.Errorf("applying limits: %w", err)
	}
	t.appliedOOO, t.appliedMaxExem = oooWindow, maxExemplars
	t.oooWindow.Store(oooWindow)
	return nil
}

// compact compacts the head into blocks where a block range is complete,
// and reports blocks not seen before to the flusher. Called with maintMu
// held.
func (t *tenantDB) compact(ctx context.Context, flusher Flusher) error {
	if err := t.db.Compact(ctx); err != nil {
		return fmt.Errorf("compacting: %w", err)
	}
	t.reportBlocks(flusher)
	return nil
}

// reportBlocks tells the flusher of blocks it has not been told about.
// Called with maintMu held.
func (t *tenantDB) reportBlocks(flusher Flusher) {
	if flusher == nil {
		return
	}
	for _, b := range t.db.Blocks() {
		m := b.Meta()
		if _, ok := t.knownBlocks[m.ULID]; ok {
			continue
		}
		t.knownBlocks[m.ULID] = struct{}{}
		flusher.BlockCompacted(t.id, m, b.Dir())
	}
	for id := range t.knownBlocks {
		if !hasBlock(t.db.DB, id) {
			delete(t.knownBlocks, id)
		}
	}
}

func hasBlock(db *tsdb.DB, id ulid.ULID) bool {
	for _, b := range db.Blocks() {
		if b.Meta().ULID == id {
			return true
		}
	}
	return false
}

// ewmaRate is a per-second rate averaged over about a minute.
type ewmaRate struct {
	pending atomic.Int64
	mu      sync.Mutex
	rate    float64
	started bool
}

func (r *ewmaRate) add(n int) { r.pending.Add(int64(n)) }

// tick folds the samples counted since the last tick, rateUpdatePeriod
// ago, into the average.
func (r *ewmaRate) tick() {
	interval := rateUpdatePeriod
	n := r.pending.Swap(0)
	instant := float64(n) / interval.Seconds()
	alpha := 1 - math.Exp(-interval.Seconds()/rateWindow.Seconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.rate, r.started = instant, true
		return
	}
	r.rate += alpha * (instant - r.rate)
}

func (r *ewmaRate) value() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate
}
