package bigtable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigtable"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// family is the one column family.
const family = "f"

// cellTimestamp is the fixed timestamp of every cell: a second write of the
// same column replaces the first instead of adding a version.
const cellTimestamp = bigtable.Timestamp(0)

// Backend is a [widecolumn.Backend] on a Bigtable table.
type Backend struct {
	opts   Options
	client *bigtable.Client
	admin  *bigtable.AdminClient
	table  *bigtable.Table
	logger *slog.Logger

	requestSeconds *prometheus.HistogramVec
	retries        *prometheus.CounterVec
}

var _ widecolumn.Backend = (*Backend)(nil)

// New connects to the table, creating it when o.CreateTable is set.
func New(ctx context.Context, o Options, logger *slog.Logger, reg prometheus.Registerer) (*Backend, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("validating bigtable options: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client, err := bigtable.NewClientWithConfig(ctx, o.Project, o.Instance, o.ClientConfig, o.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("creating bigtable client: %w", err)
	}
	admin, err := bigtable.NewAdminClient(ctx, o.Project, o.Instance, o.ClientOptions...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating bigtable admin client: %w", err), client.Close())
	}
	f := promauto.With(reg)
	b := &Backend{
		opts:   o,
		client: client,
		admin:  admin,
		table:  client.Open(o.Table),
		logger: logger,
		// The names keep the "chunk" they had before the backend moved
		// out of package chunk: dashboards and alerts use them.
		requestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hearth_chunk_bigtable_request_duration_seconds",
			Help:    "Latency of Bigtable calls, by operation and gRPC status code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"operation", "status_code"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_chunk_bigtable_retries_total",
			Help: "Bigtable calls retried after a transient error, by operation.",
		}, []string{"operation"}),
	}
	if o.CreateTable {
		if err := b.createTable(ctx); err != nil {
			return nil, errors.Join(err, b.Close())
		}
	}
	return b, nil
}

func (b *Backend) createTable(ctx context.Context) error {
	err := b.admin.CreateTable(ctx, b.opts.Table)
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("creating table %s: %w", b.opts.Table, err)
	}
	err = b.admin.CreateColumnFamily(ctx, b.opts.Table, family)
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("creating column family %s: %w", family, err)
	}
	if err := b.admin.SetGCPolicy(ctx, b.opts.Table, family, bigtable.MaxVersionsPolicy(1)); err != nil {
		return fmt.Errorf("setting GC policy of %s: %w", family, err)
	}
	return nil
}

// Close closes both clients.
func (b *Backend) Close() error {
	return errors.Join(b.client.Close(), b.admin.Close())
}

// Apply writes the mutations with ApplyBulk, in calls bounded by
// MaxMutationsPerCall and MaxBytesPerCall; a row with more cells than
// a call takes is split over several calls.
func (b *Backend) Apply(ctx context.Context, muts []widecolumn.RowMutation) error {
	var (
		keys  []string
		ms    []*bigtable.Mutation
		n, sz int
	)
	send := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := b.applyBulk(ctx, keys, ms)
		keys, ms, n, sz = nil, nil, 0, 0
		return err
	}
	for _, m := range muts {
		var cur *bigtable.Mutation
		for _, c := range m.Cells {
			cellSize := len(m.Key) + len(c.Column) + len(c.Value) + 16
			if n+1 > b.opts.MaxMutationsPerCall || (n > 0 && sz+cellSize > b.opts.MaxBytesPerCall) {
				if err := send(); err != nil {
					return err
				}
				cur = nil
			}
			if cur == nil {
				cur = bigtable.NewMutation()
				keys = append(keys, string(m.Key))
				ms = append(ms, cur)
			}
			cur.Set(family, string(c.Column), cellTimestamp, c.Value)
			n++
			sz += cellSize
		}
	}
	return send()
}

// applyBulk applies one call, retrying the rows that failed transiently.
func (b *Backend) applyBulk(ctx context.Context, keys []string, ms []*bigtable.Mutation) error {
	return b.retry(ctx, "apply", func(ctx context.Context) error {
		errs, err := b.table.ApplyBulk(ctx, keys, ms)
		if err != nil {
			return err
		}
		var failedKeys []string
		var failedMuts []*bigtable.Mutation
		var first error
		for i, e := range errs {
			if e == nil {
				continue
			}
			if first == nil || !transient(e) {
				first = e
			}
			failedKeys = append(failedKeys, keys[i])
			failedMuts = append(failedMuts, ms[i])
		}
		if first == nil {
			return nil
		}
		// Retry only what failed.
		keys, ms = failedKeys, failedMuts
		return fmt.Errorf("%d of the rows failed: %w", len(failedKeys), first)
	})
}

// DropPrefix drops the rows starting with prefix with DropRowRange.
func (b *Backend) DropPrefix(ctx context.Context, prefix []byte) error {
	if len(prefix) == 0 {
		return errors.New("refusing to drop an empty prefix")
	}
	return b.retry(ctx, "drop", func(ctx context.Context) error {
		return b.admin.DropRowRange(ctx, b.opts.Table, string(prefix))
	})
}

// Read splits the request into batches of keys or ranges read in parallel.
func (b *Backend) Read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	if err := req.Validate(); err != nil {
		return err
	}
	var opts []bigtable.ReadOption
	if f := filter(req); f != nil {
		opts = append(opts, bigtable.RowFilter(f))
	}
	var sets []rowSet
	if len(req.Keys) > 0 {
		keys := make([]string, 0, len(req.Keys))
		for _, k := range req.Keys {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		for batch := range slices.Chunk(keys, b.opts.ReadBatchSize) {
			sets = append(sets, rowSet{keys: batch})
		}
	} else {
		ranges := slices.Clone(req.Ranges)
		slices.SortFunc(ranges, func(x, y widecolumn.KeyRange) int { return bytes.Compare(x.Start, y.Start) })
		for batch := range slices.Chunk(ranges, b.opts.ReadBatchSize) {
			sets = append(sets, rowSet{ranges: batch})
		}
		if req.Limit > 0 {
			opts = append(opts, bigtable.LimitRows(int64(req.Limit)))
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		stopped bool
	)
	deliver := func(r widecolumn.Row) bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return false
		}
		if !fn(r) {
			stopped = true
			cancel()
			return false
		}
		return true
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.opts.ReadParallelism)
	for _, set := range sets {
		g.Go(func() error { return b.readSet(gctx, set, opts, deliver) })
	}
	err := g.Wait()
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		return nil
	}
	return err
}

// rowSet is one batch: sorted keys or sorted ranges.
type rowSet struct {
	keys   []string
	ranges []widecolumn.KeyRange
}

func (s rowSet) bigtable() bigtable.RowSet {
	if s.keys != nil {
		return bigtable.RowList(s.keys)
	}
	rl := make(bigtable.RowRangeList, 0, len(s.ranges))
	for _, r := range s.ranges {
		if len(r.End) == 0 {
			rl = append(rl, bigtable.InfiniteRange(string(r.Start)))
		} else {
			rl = append(rl, bigtable.NewClosedOpenRange(string(r.Start), string(r.End)))
		}
	}
	return rl
}

// after returns what remains of the set once every row up to last has been
// read (rows arrive in key order).
func (s rowSet) after(last string) rowSet {
	if s.keys != nil {
		i, _ := slices.BinarySearch(s.keys, last)
		for i < len(s.keys) && s.keys[i] <= last {
			i++
		}
		return rowSet{keys: s.keys[i:]}
	}
	next := last + "\x00"
	var out []widecolumn.KeyRange
	for _, r := range s.ranges {
		if len(r.End) > 0 && string(r.End) <= next {
			continue
		}
		if string(r.Start) < next {
			r.Start = []byte(next)
		}
		out = append(out, r)
	}
	return rowSet{ranges: out}
}

func (s rowSet) empty() bool { return len(s.keys) == 0 && len(s.ranges) == 0 }

// readSet reads one batch, resuming after the last row on a retry.
func (b *Backend) readSet(ctx context.Context, set rowSet, opts []bigtable.ReadOption, deliver func(widecolumn.Row) bool) error {
	var (
		last    string
		started bool
		stop    bool
	)
	return b.retry(ctx, "read", func(ctx context.Context) error {
		if started {
			set = set.after(last)
			if set.empty() {
				return nil
			}
		}
		var convErr error
		err := b.table.ReadRows(ctx, set.bigtable(), func(r bigtable.Row) bool {
			row, err := convert(r)
			if err != nil {
				convErr = err
				return false
			}
			last, started = r.Key(), true
			if len(row.Cells) == 0 {
				return true
			}
			if !deliver(row) {
				stop = true
				return false
			}
			return true
		}, opts...)
		if stop {
			return nil
		}
		if convErr != nil {
			return convErr
		}
		return err
	})
}

func convert(r bigtable.Row) (widecolumn.Row, error) {
	items := r[family]
	row := widecolumn.Row{Key: []byte(r.Key()), Cells: make([]widecolumn.Cell, 0, len(items))}
	for _, it := range items {
		col, ok := strings.CutPrefix(it.Column, family+":")
		if !ok {
			return row, fmt.Errorf("%w: column %q outside family %s", widecolumn.ErrCorrupt, it.Column, family)
		}
		row.Cells = append(row.Cells, widecolumn.Cell{Column: []byte(col), Value: it.Value})
	}
	return row, nil
}

// filter translates the request's filters; nil when there is none beyond
// the latest version.
func filter(req widecolumn.ReadRequest) bigtable.Filter {
	var fs []bigtable.Filter
	if req.RowKeyRegex != "" {
		fs = append(fs, bigtable.RowKeyFilter(req.RowKeyRegex))
	}
	if req.ColumnEnd != nil {
		fs = append(fs, bigtable.ColumnRangeFilter(family, string(req.ColumnStart), string(req.ColumnEnd)))
	}
	fs = append(fs, bigtable.LatestNFilter(1))
	if req.CellsPerRow > 0 {
		fs = append(fs, bigtable.CellsPerRowLimitFilter(req.CellsPerRow))
	}
	if len(fs) == 1 {
		return fs[0]
	}
	return bigtable.ChainFilters(fs...)
}

// transient reports whether err is worth retrying.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// retry runs call until it succeeds, fails with a permanent error, the
// context ends, or MaxRetries retries are spent.
func (b *Backend) retry(ctx context.Context, op string, call func(context.Context) error) error {
	backoff := b.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := call(ctx)
		b.requestSeconds.WithLabelValues(op, status.Code(err).String()).Observe(time.Since(start).Seconds())
		if err == nil {
			return nil
		}
		if !transient(err) || ctx.Err() != nil || attempt >= b.opts.MaxRetries {
			return fmt.Errorf("bigtable %s after %d attempts: %w", op, attempt+1, err)
		}
		b.retries.WithLabelValues(op).Inc()
		b.logger.Debug("Retrying Bigtable call", "operation", op, "attempt", attempt+1, "err", err)
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bigtable %s: %w", op, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, b.opts.MaxBackoff)
	}
}
