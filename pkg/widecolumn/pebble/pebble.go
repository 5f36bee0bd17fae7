package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/cockroachdb/pebble"
	"rsc.io/binaryregexp"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Options configure the Pebble backend.
type Options struct {
	// Dir is the database directory, created when missing. Required.
	Dir string
	// NoSync skips the fsync after each batch and drop. Default false: a
	// flushed block is deleted by the ingester once the store confirmed it,
	// so confirmed writes must survive a power loss.
	NoSync bool
	// BlockCacheBytes is Pebble's block cache. Default 64 MiB; the store's
	// own caches sit in front of it.
	BlockCacheBytes int64
	// BlockSize is the uncompressed size of sstable data blocks, at every
	// level. Default 64 KiB, snappy's window: snappy finds repeats only
	// within a block, and 64 KiB of chunk cells and postings holds the
	// repeats of shared key parts, label values and the timestamp streams
	// of series scraped together. On real data (TestRealdataBytes in
	// pkg/chunk) the sstables are 0.76x those of Pebble's default 4 KiB
	// (32 KiB: 0.80x; 128 KiB: no better), for a cold point read that
	// decompresses 64 KiB (tens of microseconds; the block cache keeps
	// them decompressed). Zstandard would do better, but Pebble v1.1's
	// cgo zstd decoder fails with the DataDog/zstd v1.5 that memberlist's
	// msgpack pulls in ("decompressed into unexpected buffer").
	BlockSize int
}

// DefaultOptions returns the defaults described on each field, without Dir.
func DefaultOptions() Options {
	return Options{BlockCacheBytes: 64 << 20, BlockSize: 64 << 10}
}

// Validate reports every invalid option.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("pebble directory must be set"))
	}
	if o.BlockCacheBytes < 0 {
		errs = append(errs, fmt.Errorf("block cache bytes %d must not be negative", o.BlockCacheBytes))
	}
	if o.BlockSize < 1<<10 || o.BlockSize > 1<<20 {
		errs = append(errs, fmt.Errorf("block size %d must be in [1 KiB, 1 MiB]", o.BlockSize))
	}
	return errors.Join(errs...)
}

// Backend is a [widecolumn.Backend] on a Pebble database.
type Backend struct {
	db        *pebble.DB
	writeOpts *pebble.WriteOptions
}

var _ widecolumn.Backend = (*Backend)(nil)

// Open opens (or creates) the database in o.Dir.
func Open(o Options, logger *slog.Logger) (*Backend, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("validating pebble options: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cache := pebble.NewCache(o.BlockCacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:  cache,
		Logger: pebbleLogger{logger},
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i] = pebble.LevelOptions{Compression: pebble.SnappyCompression, BlockSize: o.BlockSize}
	}
	db, err := pebble.Open(o.Dir, po)
	if err != nil {
		return nil, fmt.Errorf("opening pebble in %s: %w", o.Dir, err)
	}
	wo := pebble.Sync
	if o.NoSync {
		wo = pebble.NoSync
	}
	return &Backend{db: db, writeOpts: wo}, nil
}

// Apply writes every cell in one atomic batch.
func (b *Backend) Apply(ctx context.Context, muts []widecolumn.RowMutation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	batch := b.db.NewBatch()
	defer batch.Close()
	var key []byte
	for _, m := range muts {
		for _, c := range m.Cells {
			key = appendCellKey(key[:0], m.Key, c.Column)
			if err := batch.Set(key, c.Value, nil); err != nil {
				return fmt.Errorf("adding cell to batch: %w", err)
			}
		}
	}
	if err := batch.Commit(b.writeOpts); err != nil {
		return fmt.Errorf("committing batch of %d rows: %w", len(muts), err)
	}
	return nil
}

// DropPrefix deletes every row starting with prefix with one range deletion.
func (b *Backend) DropPrefix(ctx context.Context, prefix []byte) error {
	if len(prefix) == 0 {
		return errors.New("refusing to drop an empty prefix")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := appendRowKey(nil, prefix)
	if err := b.db.DeleteRange(start, widecolumn.PrefixEnd(start), b.writeOpts); err != nil {
		return fmt.Errorf("deleting range of prefix %x: %w", prefix, err)
	}
	return nil
}

// Compact flushes the memtables and compacts every key, so that the
// directory holds only compressed sstables (a space measurement, or before
// a backup).
func (b *Backend) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.db.Flush(); err != nil {
		return fmt.Errorf("flushing memtables: %w", err)
	}
	it, err := b.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("opening iterator: %w", err)
	}
	var first, end []byte
	if it.First() {
		first = slices.Clone(it.Key())
	}
	if it.Last() {
		end = append(slices.Clone(it.Key()), 0) // just past the last key
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("closing iterator: %w", err)
	}
	if end == nil {
		return nil // empty
	}
	if err := b.db.Compact(first, end, true); err != nil {
		return fmt.Errorf("compacting: %w", err)
	}
	return nil
}

// Close flushes the memtables into sstables (compressed, and nothing left
// to replay from the WAL on the next open) and closes the database.
func (b *Backend) Close() error {
	if err := b.db.Flush(); err != nil {
		return errors.Join(fmt.Errorf("flushing memtables: %w", err), b.db.Close())
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("closing pebble: %w", err)
	}
	return nil
}

// Read serves a request with one iterator per key batch or range.
func (b *Backend) Read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	if err := req.Validate(); err != nil {
		return err
	}
	r := reader{ctx: ctx, req: req, fn: fn}
	if req.RowKeyRegex != "" {
		re, err := binaryregexp.Compile("^(?:" + string(escapeHigh([]byte(req.RowKeyRegex))) + ")$")
		if err != nil {
			return fmt.Errorf("%w: row key regex: %v", widecolumn.ErrUnsupported, err)
		}
		r.re = re
	}
	if len(req.Keys) > 0 {
		keys := slices.Clone(req.Keys)
		slices.SortFunc(keys, bytes.Compare)
		keys = slices.CompactFunc(keys, bytes.Equal)
		for _, k := range keys {
			lower := appendCellKey(nil, k, nil)
			if !r.scan(b.db, lower, widecolumn.PrefixEnd(lower)) {
				break
			}
		}
		return r.err
	}
	for _, kr := range req.Ranges {
		lower := appendRowKey(nil, kr.Start)
		var upper []byte
		if len(kr.End) > 0 {
			upper = appendRowKey(nil, kr.End)
		}
		if !r.scan(b.db, lower, upper) {
			break
		}
	}
	return r.err
}

// reader assembles cells into rows, applies the request's filters and
// hands rows to fn.
type reader struct {
	ctx  context.Context
	req  widecolumn.ReadRequest
	fn   func(widecolumn.Row) bool
	re   *binaryregexp.Regexp
	rows int
	err  error
}

// scan reads [lower, upper) and reports whether to go on.
func (r *reader) scan(db *pebble.DB, lower, upper []byte) bool {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		r.err = fmt.Errorf("opening iterator: %w", err)
		return false
	}
	defer func() {
		if err := it.Close(); err != nil && r.err == nil {
			r.err = fmt.Errorf("closing iterator: %w", err)
		}
	}()
	var (
		cur     widecolumn.Row
		skipRow []byte // key of a row rejected by the regex
		n       int
	)
	flush := func() bool {
		if len(cur.Cells) == 0 {
			return true
		}
		r.rows++
		row := cur
		cur = widecolumn.Row{}
		if !r.fn(row) {
			return false
		}
		return r.req.Limit == 0 || r.rows < r.req.Limit
	}
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%1024 == 0 {
			if err := r.ctx.Err(); err != nil {
				r.err = err
				return false
			}
		}
		row, col, err := decodeCellKey(it.Key())
		if err != nil {
			r.err = err
			return false
		}
		if skipRow != nil && bytes.Equal(row, skipRow) {
			continue
		}
		if cur.Key == nil || !bytes.Equal(row, cur.Key) {
			if !flush() {
				return false
			}
			if r.re != nil && !r.re.Match(row) {
				skipRow = row
				continue
			}
			skipRow = nil
			cur = widecolumn.Row{Key: row}
		}
		if r.req.ColumnEnd != nil && (bytes.Compare(col, r.req.ColumnStart) < 0 || bytes.Compare(col, r.req.ColumnEnd) >= 0) {
			continue
		}
		if r.req.CellsPerRow > 0 && len(cur.Cells) >= r.req.CellsPerRow {
			continue
		}
		cur.Cells = append(cur.Cells, widecolumn.Cell{Column: slices.Clone(col), Value: slices.Clone(it.Value())})
	}
	if err := it.Error(); err != nil {
		r.err = fmt.Errorf("iterating: %w", err)
		return false
	}
	return flush()
}

// escapeHigh writes bytes above 0x7f of a pattern as \xHH, so the pattern
// is read byte by byte, as the Bigtable emulator does.
func escapeHigh(in []byte) []byte {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(in))
	for _, c := range in {
		if c > 0x7f {
			out = append(out, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		out = append(out, c)
	}
	return out
}

// pebbleLogger sends Pebble's logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("Pebble", "msg", fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("Pebble error", "err", fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble on invariant violations it cannot continue
// from; like Pebble's default logger, it does not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("Pebble fatal error", "err", msg)
	panic(msg)
}
