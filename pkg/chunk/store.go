package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// maxColumnBytes is Bigtable's column-qualifier limit; label names are
// columns of the label-names row.
const maxColumnBytes = 16 << 10

// Store maps flushed series and chunks onto a [Backend] and reads them back.
// It is safe for concurrent use. It does not own the backend: close the
// backend after the last call on the store.
type Store struct {
	backend Backend
	opts    Options
	schema  schema
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time

	indexCache *lru // request results and series rows (index buckets)
	chunkCache *lru // chunk rows
	dedupe     *lru // series rows already written
	tombCache  tombstoneCache
}

// New returns a store over backend. Metrics are registered with reg; pass a
// fresh registry per store when several run in one process.
func New(backend Backend, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("validating chunk store options: %w", err)
	}
	if backend == nil {
		return nil, errors.New("chunk store needs a backend")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(reg)
	return &Store{
		backend:    backend,
		opts:       opts,
		schema:     newSchema(opts),
		logger:     logger,
		metrics:    m,
		now:        time.Now,
		indexCache: newLRU("index", opts.IndexCacheBytes, m),
		chunkCache: newLRU("chunk", opts.ChunkCacheBytes, m),
		dedupe:     newLRU("write_dedupe", opts.WriteDedupeCacheBytes, m),
	}, nil
}

// SeriesChunks is one series of a flush: its labels and its chunks.
type SeriesChunks struct {
	Labels labels.Labels
	Chunks []Chunk
}

// WriteStats counts what a WriteSeries call sent to the backend.
type WriteStats struct {
	// Series is the number of series in the batch.
	Series int
	// SkippedIndex is the number of (series, bucket) pairs whose index rows
	// were skipped because the write-dedupe cache knew them.
	SkippedIndex int
	// Rows, Mutations and Bytes are the rows mutated, the cells set, and
	// the bytes of keys, columns and values sent.
	Rows, Mutations, Bytes int
	// Chunks and ChunkBytes are the chunks and chunk data bytes written
	// (after merging a series' chunks within a window), each counted once
	// even when it overlaps several windows.
	Chunks, ChunkBytes int
}

// WriteSeries writes one flush of one tenant (typically one compacted block)
// as series, postings, label-name and chunk rows. A series' XOR chunks
// that follow each other within one chunk window are merged into one chunk
// first (see mergeChunks). Writing the same batch
// again changes nothing, and identical chunks written by several replicas
// are stored once. A chunk is written to the row of every chunk window it
// overlaps and the series is indexed in every bucket it overlaps.
//
// On error nothing is recorded in the write-dedupe cache, so a retry of the
// same batch writes every row again.
func (s *Store) WriteSeries(ctx context.Context, tenant string, batch []SeriesChunks) (WriteStats, error) {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("write").Observe(time.Since(start).Seconds()) }()
	stats := WriteStats{Series: len(batch)}
	if tenant == "" {
		return stats, ErrInvalidTenant
	}
	w := newWriteBatch()
	var (
		labelsBuf    []byte
		newIndexKey  []string
		chunkKeys    []string
		indexBuckets = map[uint32]struct{}{}
	)
	for _, sc := range batch {
		if sc.Labels.IsEmpty() {
			return stats, fmt.Errorf("%w: series without labels", ErrInvalidChunk)
		}
		var id SeriesID
		id, labelsBuf = seriesIDOf(labelsBuf, sc.Labels)
		var buckets []uint32
		for _, c := range sc.Chunks {
			if c.MinTime < 0 || c.MaxTime < c.MinTime || len(c.Data) == 0 {
				return stats, fmt.Errorf("%w: [%d, %d] with %d bytes in series %.200q", ErrInvalidChunk, c.MinTime, c.MaxTime, len(c.Data), sc.Labels.String())
			}
		}
		for _, c := range s.schema.mergeChunks(sc.Chunks) {
			stats.Chunks++
			stats.ChunkBytes += len(c.Data)
			col := chunkColumn(nil, c)
			val := appendChunkCell(nil, c)
			for win := s.schema.windowOf(c.MinTime); win <= c.MaxTime; win += s.schema.windowMillis {
				b := s.schema.bucketOf(win)
				key := chunkKey(nil, tenant, b, id, win)
				if len(key) > s.opts.MaxRowKeyBytes {
					return stats, keyTooLong(len(key), s.opts.MaxRowKeyBytes, sc.Labels)
				}
				w.add(key, col, val)
				chunkKeys = append(chunkKeys, string(key))
				if len(buckets) == 0 || buckets[len(buckets)-1] != b {
					buckets = append(buckets, b)
				}
			}
		}
		slices.Sort(buckets)
		buckets = slices.Compact(buckets)
		for _, b := range buckets {
			sk := seriesKey(nil, tenant, b, id)
			if s.dedupe.contains(string(sk)) {
				stats.SkippedIndex++
				continue
			}
			if err := s.addIndex(w, tenant, b, id, sk, labelsBuf, sc.Labels); err != nil {
				return stats, err
			}
			newIndexKey = append(newIndexKey, string(sk))
			indexBuckets[b] = struct{}{}
		}
	}
	muts := w.mutations()
	for _, m := range muts {
		stats.Rows++
		for _, c := range m.Cells {
			stats.Mutations++
			stats.Bytes += len(m.Key) + len(c.Column) + len(c.Value)
		}
	}
	if len(muts) > 0 {
		if err := s.apply(ctx, muts); err != nil {
			return stats, fmt.Errorf("writing %d rows for tenant %q: %w", len(muts), tenant, err)
		}
	}
	// This store's caches must not hide what it just wrote (a late flush
	// into a bucket already cacheable): drop the chunk rows written and the
	// index entries of buckets that gained series.
	for _, k := range chunkKeys {
		s.chunkCache.remove(k)
	}
	if len(newIndexKey) > 0 {
		s.indexCache.purge(tenant, func(b uint32) bool { _, ok := indexBuckets[b]; return ok })
	}
	for _, k := range newIndexKey {
		s.dedupe.put(k, struct{}{}, 0)
	}
	s.metrics.dedupeSkipped.Add(float64(stats.SkippedIndex))
	s.metrics.writtenRows.WithLabelValues(tenant).Add(float64(stats.Rows))
	s.metrics.writtenMutations.WithLabelValues(tenant).Add(float64(stats.Mutations))
	s.metrics.writtenBytes.WithLabelValues(tenant).Add(float64(stats.Bytes))
	return stats, nil
}

// addIndex adds the series row, the postings cells and the label names of
// one series in one bucket.
func (s *Store) addIndex(w *writeBatch, tenant string, b uint32, id SeriesID, sk, enc []byte, ls labels.Labels) error {
	if len(sk) > s.opts.MaxRowKeyBytes {
		return keyTooLong(len(sk), s.opts.MaxRowKeyBytes, ls)
	}
	var err error
	shard := s.schema.shardOf(id)
	ls.Range(func(l labels.Label) {
		if err != nil {
			return
		}
		key := s.schema.postingsValuePrefix(nil, tenant, b, l.Name, l.Value)
		key = append(key, shard)
		if len(key) > s.opts.MaxRowKeyBytes {
			err = keyTooLong(len(key), s.opts.MaxRowKeyBytes, ls)
			return
		}
		if len(l.Name) > maxColumnBytes {
			err = fmt.Errorf("%w: label name of %d bytes in series %.200q", ErrKeyTooLong, len(l.Name), ls.String())
			return
		}
		w.add(key, id[:], nil)
		if s.schema.hashedPart(l.Value) {
			w.add(key, valueColumn, []byte(l.Value))
		}
		w.add(namesKey(nil, tenant, b), []byte(l.Name), nil)
	})
	if err != nil {
		return err
	}
	w.add(sk, []byte(labelsColumn), append([]byte(nil), enc...))
	return nil
}

// writeBatch collects cells by row, so that many series sharing a postings
// row or the label-names row make one row mutation.
type writeBatch struct {
	rows map[string]map[string][]byte
}

func newWriteBatch() *writeBatch { return &writeBatch{rows: map[string]map[string][]byte{}} }

func (w *writeBatch) add(key, col, val []byte) {
	r, ok := w.rows[string(key)]
	if !ok {
		r = map[string][]byte{}
		w.rows[string(key)] = r
	}
	r[string(col)] = val
}

// mutations returns the rows sorted by key, their cells sorted by column.
func (w *writeBatch) mutations() []widecolumn.RowMutation {
	muts := make([]widecolumn.RowMutation, 0, len(w.rows))
	for k, cols := range w.rows {
		m := widecolumn.RowMutation{Key: []byte(k), Cells: make([]widecolumn.Cell, 0, len(cols))}
		for c, v := range cols {
			m.Cells = append(m.Cells, widecolumn.Cell{Column: []byte(c), Value: v})
		}
		slices.SortFunc(m.Cells, func(a, b widecolumn.Cell) int { return bytes.Compare(a.Column, b.Column) })
		muts = append(muts, m)
	}
	slices.SortFunc(muts, func(a, b widecolumn.RowMutation) int { return bytes.Compare(a.Key, b.Key) })
	return muts
}

// DeleteBucketsBefore drops every bucket of tenant that ends before t
// (milliseconds): whole buckets only, so data up to a bucket period older
// than t may remain ([widecolumn.DropBucketsBefore] on namespace
// widecolumn.Chunks). Caches are purged of the dropped buckets.
func (s *Store) DeleteBucketsBefore(ctx context.Context, tenant string, t int64) error {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("delete").Observe(time.Since(start).Seconds()) }()
	if tenant == "" {
		return ErrInvalidTenant
	}
	if t <= 0 {
		return nil
	}
	// Bucket b ends before t exactly when b < t / period.
	cutoff := s.schema.bucketOf(t)
	dropped, err := widecolumn.DropBucketsBefore(ctx, s.timed(), widecolumn.Chunks, tenant, cutoff)
	s.metrics.bucketsDropped.Add(float64(dropped))
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			s.metrics.corruptRows.Inc()
		}
		return err
	}
	s.purgeCaches(tenant, cutoff)
	if dropped > 0 {
		s.logger.Info("Dropped expired buckets", "tenant", tenant, "buckets", dropped, "before", time.UnixMilli(t).UTC())
	}
	return nil
}

// firstBucket returns the tenant's oldest bucket.
func (s *Store) firstBucket(ctx context.Context, tenant string) (uint32, bool, error) {
	b, ok, err := widecolumn.FirstBucket(ctx, s.timed(), widecolumn.Chunks, tenant)
	if errors.Is(err, ErrCorrupt) {
		s.metrics.corruptRows.Inc()
	}
	return b, ok, err
}

// DeleteTenant drops every row of tenant in namespace widecolumn.Chunks and
// purges it from the caches and the per-tenant metrics. Deleting a tenant
// from every namespace (API keys, rules, ...) is [widecolumn.DeleteTenant]
// followed by [Store.ForgetTenant].
func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("delete").Observe(time.Since(start).Seconds()) }()
	if err := widecolumn.Chunks.DeleteTenant(ctx, s.timed(), tenant); err != nil {
		return err
	}
	s.ForgetTenant(tenant)
	return nil
}

// ForgetTenant purges tenant from the caches and the per-tenant metrics,
// without touching the backend: call it after the tenant's rows were
// dropped, so no read in between puts them back in a cache.
func (s *Store) ForgetTenant(tenant string) {
	s.indexCache.purge(tenant, func(uint32) bool { return true })
	s.chunkCache.purge(tenant, func(uint32) bool { return true })
	s.dedupe.purge(tenant, func(uint32) bool { return true })
	s.metrics.deleteTenant(tenant)
	s.logger.Info("Deleted tenant from the chunk store", "tenant", tenant)
}

func (s *Store) purgeCaches(tenant string, beforeBucket uint32) {
	drop := func(b uint32) bool { return b < beforeBucket }
	s.indexCache.purge(tenant, drop)
	s.chunkCache.purge(tenant, drop)
	s.dedupe.purge(tenant, drop)
}

// The backend calls, timed.

func (s *Store) apply(ctx context.Context, muts []widecolumn.RowMutation) error {
	start := time.Now()
	err := s.backend.Apply(ctx, muts)
	s.metrics.backendSeconds.WithLabelValues("apply", status(err)).Observe(time.Since(start).Seconds())
	return err
}

func (s *Store) read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	start := time.Now()
	err := s.backend.Read(ctx, req, fn)
	s.metrics.backendSeconds.WithLabelValues("read", status(err)).Observe(time.Since(start).Seconds())
	return err
}

func (s *Store) drop(ctx context.Context, prefix []byte) error {
	start := time.Now()
	err := s.backend.DropPrefix(ctx, prefix)
	s.metrics.backendSeconds.WithLabelValues("drop", status(err)).Observe(time.Since(start).Seconds())
	return err
}

// timed is the backend with the store's timing, for the namespace rules of
// package widecolumn.
func (s *Store) timed() timedBackend { return timedBackend{s} }

type timedBackend struct{ s *Store }

func (t timedBackend) Read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	return t.s.read(ctx, req, fn)
}

func (t timedBackend) DropPrefix(ctx context.Context, prefix []byte) error {
	return t.s.drop(ctx, prefix)
}

func status(err error) string {
	if err != nil {
		return "error"
	}
	return "success"
}

// cacheable reports whether bucket b can no longer be written: its end plus
// the grace is in the past.
func (s *Store) cacheable(b uint32) bool {
	return s.schema.bucketEnd(b)+s.opts.CacheGrace.Milliseconds() < s.now().UnixMilli()
}
