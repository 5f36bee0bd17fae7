package flusher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

const (
	// batchSeries is the number of series per chunk store write: about
	// 1,000 series × 1 chunk × ~150 B plus index rows, well under
	// Bigtable's 100k mutations per request once split by the backend.
	batchSeries = 1000
	// minBackoff and maxBackoff bound the wait between attempts to flush a
	// block: the store may be down for minutes, blocks wait on disk.
	minBackoff = time.Second
	maxBackoff = time.Minute
	// janitorInterval is how often marks of blocks deleted from disk are
	// forgotten.
	janitorInterval = 5 * time.Minute
)

// ErrNotRunning is returned by Wait and FlushAll when the flusher is not
// running: queued blocks would never be flushed.
var ErrNotRunning = errors.New("flusher is not running")

// SeriesWriter writes one batch of one tenant's series to the chunk store.
// *chunk.Store implements it. It must be idempotent (a batch is written
// again after a failure or a restart) and safe for concurrent use.
type SeriesWriter interface {
	WriteSeries(ctx context.Context, tenant string, batch []chunk.SeriesChunks) (chunk.WriteStats, error)
}

// Compactor compacts every tenant's whole head into blocks and reports them
// to the flusher before returning. *ingester.Ingester implements it.
type Compactor interface {
	ForceCompact(ctx context.Context) error
}

// Deps are what New needs.
type Deps struct {
	Config     Config
	Store      SeriesWriter
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Flusher writes compacted blocks to the chunk store. It implements the
// ingester's Flusher hook; its lifecycle is [Flusher.Service]. Its methods
// are safe for concurrent use.
type Flusher struct {
	cfg     Config
	store   SeriesWriter
	logger  *slog.Logger
	metrics *metrics
	svc     *services.Service
	now     func() time.Time

	// Retry bounds, constants outside tests.
	minBackoff, maxBackoff time.Duration

	mu      sync.Mutex
	queue   []*job                 // waiting, oldest first
	pending map[ulid.ULID]*job     // waiting or being flushed
	flushed map[ulid.ULID]blockRef // in the store, still on disk
	changed chan struct{}          // closed when a pending block leaves
	wake    chan struct{}          // a worker should look at the queue
	running map[*job]context.CancelFunc
	// outcomes are the recent results, for Status.
	outcomes outcomes
}

type blockRef struct {
	tenant tenant.ID
	dir    string
}

// job is one block to flush.
type job struct {
	tenant tenant.ID
	meta   tsdb.BlockMeta
	dir    string
	// done counts the series already written by earlier attempts: a retry
	// resumes after them (the block's series order is fixed). chunks,
	// bytes and dropped count what they sent.
	done, chunks, bytes, dropped int
	// deleted is set when the tenant is deleted: the job is dropped.
	deleted bool
}

// New returns a flusher. Start its service before blocks can be flushed;
// blocks reported earlier wait in the queue.
func New(d Deps) (*Flusher, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, fmt.Errorf("flusher config: %w", err)
	}
	if d.Store == nil || d.Logger == nil || d.Registerer == nil {
		return nil, errors.New("flusher: Store, Logger and Registerer are required")
	}
	f := &Flusher{
		cfg:        d.Config,
		store:      d.Store,
		logger:     d.Logger,
		now:        time.Now,
		minBackoff: minBackoff,
		maxBackoff: maxBackoff,
		pending:    map[ulid.ULID]*job{},
		flushed:    map[ulid.ULID]blockRef{},
		changed:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		running:    map[*job]context.CancelFunc{},
	}
	f.metrics = newMetrics(d.Registerer, f.oldestUnflushedAge)
	f.svc = services.New("flusher", nil, f.run, nil)
	return f, nil
}

// Service returns the flusher's lifecycle. Running, it flushes queued
// blocks with -ingester.flush-concurrency workers. Stopping abandons the
// flushes in progress: their blocks are not marked, and are flushed again
// (harmlessly) after a restart.
func (f *Flusher) Service() *services.Service { return f.svc }

// BlockCompacted queues a block for flushing, unless its directory holds
// the flushed mark. It does not block.
func (f *Flusher) BlockCompacted(t tenant.ID, meta tsdb.BlockMeta, dir string) {
	marked := hasMark(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if marked {
		f.flushed[meta.ULID] = blockRef{tenant: t, dir: dir}
		return
	}
	if _, ok := f.pending[meta.ULID]; ok {
		return
	}
	if _, ok := f.flushed[meta.ULID]; ok {
		return
	}
	j := &job{tenant: t, meta: meta, dir: dir}
	f.pending[meta.ULID] = j
	f.queue = append(f.queue, j)
	f.metrics.queueLength.Set(float64(len(f.pending)))
	f.signal()
}

// Flushed reports whether the block is entirely in the chunk store. It
// answers from memory: a block flushed before a restart counts once the
// ingester has reported it again (BlockCompacted reads the mark).
func (f *Flusher) Flushed(_ tenant.ID, meta tsdb.BlockMeta) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.flushed[meta.ULID]
	return ok
}

// Wait returns once every block queued or being flushed when it was called
// is in the store (or dropped with its tenant). It fails when ctx ends or
// the flusher stops first.
func (f *Flusher) Wait(ctx context.Context) error {
	if f.svc.State() != services.Running {
		return ErrNotRunning
	}
	f.mu.Lock()
	waiting := make([]*job, 0, len(f.pending))
	for _, j := range f.pending {
		waiting = append(waiting, j)
	}
	f.mu.Unlock()
	for {
		f.mu.Lock()
		for len(waiting) > 0 && f.pending[waiting[0].meta.ULID] != waiting[0] {
			waiting = waiting[1:]
		}
		changed := f.changed
		f.mu.Unlock()
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d blocks to flush: %w", len(waiting), ctx.Err())
		case <-f.svc.Done():
			return ErrNotRunning
		}
	}
}

// FlushAll compacts every tenant's whole head into blocks (c is the
// ingester) and waits until they, and every block queued before, are in
// the chunk store.
func (f *Flusher) FlushAll(ctx context.Context, c Compactor) error {
	if err := c.ForceCompact(ctx); err != nil {
		return fmt.Errorf("compacting heads: %w", err)
	}
	return f.Wait(ctx)
}

// Handler serves POST /ingester/flush: FlushAll, answering 204 once every
// block is in the store, 503 when it fails or the request is cancelled.
func (f *Flusher) Handler(c Compactor) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		start := time.Now()
		if err := f.FlushAll(r.Context(), c); err != nil {
			f.logger.Warn("Flushing everything failed", "err", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		f.logger.Info("Flushed everything", "duration", time.Since(start))
		w.WriteHeader(http.StatusNoContent)
	})
}

// DeleteTenant forgets t's blocks: queued ones are dropped, flushes in
// progress are cancelled and waited for, so that nothing of t is written
// to the store once it returns. Call it after the ingester has deleted t
// (no new blocks) and before the store drops t's rows.
func (f *Flusher) DeleteTenant(ctx context.Context, t tenant.ID) error {
	f.mu.Lock()
	var inFlight []*job
	queue := f.queue[:0]
	for _, j := range f.queue {
		if j.tenant != t {
			queue = append(queue, j)
			continue
		}
		f.removeLocked(j)
	}
	clear(f.queue[len(queue):])
	f.queue = queue
	for j, cancel := range f.running {
		if j.tenant == t {
			j.deleted = true
			cancel()
			inFlight = append(inFlight, j)
		}
	}
	for id, b := range f.flushed {
		if b.tenant == t {
			delete(f.flushed, id)
		}
	}
	f.mu.Unlock()
	f.metrics.flushedBlocks.DeleteLabelValues(string(t))
	f.metrics.tenantBytes.DeleteLabelValues(string(t))

	for _, j := range inFlight {
		for {
			f.mu.Lock()
			_, still := f.running[j]
			changed := f.changed
			f.mu.Unlock()
			if !still {
				break
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return fmt.Errorf("waiting for flushes of tenant %s to stop: %w", t, ctx.Err())
			}
		}
	}
	return nil
}

// removeLocked takes j out of the pending set and wakes waiters.
func (f *Flusher) removeLocked(j *job) {
	if f.pending[j.meta.ULID] == j {
		delete(f.pending, j.meta.ULID)
	}
	f.metrics.queueLength.Set(float64(len(f.pending)))
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Flusher) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Flusher) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range f.cfg.Concurrency {
		wg.Go(func() { f.worker(ctx) })
	}
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			f.forgetDeletedBlocks()
		}
	}
}

func (f *Flusher) worker(ctx context.Context) {
	for {
		j, jctx, cancel := f.next(ctx)
		if j == nil {
			return
		}
		err := f.flushWithRetries(jctx, j)
		cancel()
		f.finish(j, err)
		if ctx.Err() != nil {
			return
		}
	}
}

// next takes the oldest queued block, waiting for one; nil once ctx ends.
func (f *Flusher) next(ctx context.Context) (*job, context.Context, context.CancelFunc) {
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			j := f.queue[0]
			f.queue[0] = nil
			f.queue = f.queue[1:]
			jctx, cancel := context.WithCancel(ctx)
			f.running[j] = cancel
			more := len(f.queue) > 0
			f.mu.Unlock()
			if more {
				f.signal() // Wake another worker for the rest.
			}
			return j, jctx, cancel
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, nil
		case <-f.wake:
		}
	}
}

// finish records the outcome of a job.
func (f *Flusher) finish(j *job, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, j)
	switch {
	case j.deleted:
		f.removeLocked(j)
	case err == nil:
		f.flushed[j.meta.ULID] = blockRef{tenant: j.tenant, dir: j.dir}
		f.removeLocked(j)
	case errors.Is(err, errBlockGone):
		f.removeLocked(j)
	default:
		// Stopping: the block stays pending (not marked) and is flushed
		// after the restart. Waiters are told by the service's end.
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

// forgetDeletedBlocks drops the marks of blocks the ingester has deleted.
func (f *Flusher) forgetDeletedBlocks() {
	f.mu.Lock()
	refs := make(map[ulid.ULID]string, len(f.flushed))
	for id, b := range f.flushed {
		refs[id] = b.dir
	}
	f.mu.Unlock()
	for id, dir := range refs {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			f.mu.Lock()
			delete(f.flushed, id)
			f.mu.Unlock()
		}
	}
}

// oldestUnflushedAge is the age of the oldest pending block's ULID.
func (f *Flusher) oldestUnflushedAge() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var oldest uint64
	for id := range f.pending {
		if ms := id.Time(); oldest == 0 || ms < oldest {
			oldest = ms
		}
	}
	if oldest == 0 {
		return 0
	}
	return max(0, f.now().Sub(time.UnixMilli(int64(oldest))).Seconds())
}

// markFile is written in a block's directory once the store confirmed
// every row of the block. The TSDB ignores files it does not know.
const markFile = "hearth-flushed"

func hasMark(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, markFile))
	return err == nil
}
