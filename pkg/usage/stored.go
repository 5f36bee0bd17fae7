package usage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// StoredBytesName is the ledger's figure of the bytes a tenant has in the
// chunk store, written by the [Sizer].
const StoredBytesName = "hearth_store_chunk_bytes"

// Row instance parts the sizer writes under a tenant's usage prefix: the
// total (a ledger row like an instance's, summed by readers), and the
// per-bucket measurements, which readers skip. A process's instance ID
// never starts with 0x00 (Config.Validate).
const (
	storedTotalRow   = "\x00store"
	storedBucketsRow = "\x00store-buckets"
	// settleAfter: a bucket measured this long after its end is not
	// measured again (flushes and out-of-order data have landed); series
	// deletion makes the tenant's buckets measured again.
	settleAfter = 48 * time.Hour
	tombColumn  = "t"
)

// ChunkStore is what the sizer needs of the chunk store; *chunk.Store is
// one.
type ChunkStore interface {
	Tenants(ctx context.Context) ([]string, error)
	FirstBucket(ctx context.Context, tenant string) (bucket uint32, ok bool, err error)
	ChunkBytes(ctx context.Context, tenant string, bucket uint32) (int64, error)
	BucketOf(t time.Time) uint32
	BucketEnd(bucket uint32) time.Time
}

// SizerDeps are the sizer's dependencies.
type SizerDeps struct {
	// Interval is how often every tenant's stored bytes are measured.
	Interval time.Duration
	Store    ChunkStore
	// Table also drops the rows written for a tenant deleted meanwhile.
	Table interface {
		Table
		DropPrefix(ctx context.Context, prefix []byte) error
	}
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Sizer measures the bytes each tenant has in the chunk store, from the
// store itself: every chunk cell once (replicas that flushed the same
// chunk wrote one cell), what retention dropped and series deletion
// rewrote excluded. Each bucket is read until it has settled (measured
// 48h after its end), then its measurement is kept in the ledger; a
// tenant's series deletion (its tombstone rows changing) makes all its
// buckets measured again. Running it in several processes is harmless:
// they write the same values.
type Sizer struct {
	d     SizerDeps
	svc   *services.Service
	bytes *prometheus.GaugeVec
	known map[string]bool
}

// NewSizer returns a sizer; its service measures every Interval.
func NewSizer(d SizerDeps) (*Sizer, error) {
	if d.Interval <= 0 || d.Store == nil || d.Table == nil {
		return nil, errors.New("usage: the sizer needs an interval, a chunk store and a table")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Sizer{d: d, known: map[string]bool{}}
	s.bytes = promauto.With(d.Registerer).NewGaugeVec(prometheus.GaugeOpts{
		Name: "hearth_usage_store_chunk_bytes",
		Help: "Bytes of a tenant's chunks in the chunk store at the last measurement (each stored chunk once, whatever the replication factor); see -usage.store-scan-interval.",
	}, []string{"tenant"})
	s.svc = services.New("usage-sizer", nil, s.run, nil)
	return s, nil
}

// Service runs a measurement at start and every interval.
func (s *Sizer) Service() *services.Service { return s.svc }

func (s *Sizer) run(ctx context.Context) error {
	t := time.NewTicker(s.d.Interval)
	defer t.Stop()
	for {
		if err := s.Measure(ctx); err != nil && ctx.Err() == nil {
			s.d.Logger.Warn("Measuring the tenants' stored bytes failed; retrying at the next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Measure measures every tenant of the chunk store and writes the totals.
func (s *Sizer) Measure(ctx context.Context) error {
	tenants, err := s.d.Store.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("listing the store's tenants: %w", err)
	}
	var errs []error
	seen := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		seen[t] = true
		if err := s.measureTenant(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", t, err))
		}
	}
	for t := range s.known {
		if !seen[t] {
			s.bytes.DeleteLabelValues(t)
		}
	}
	s.known = seen
	return errors.Join(errs...)
}

type measurement struct {
	bytes    uint64
	measured time.Time
}

func (s *Sizer) measureTenant(ctx context.Context, t string) error {
	first, ok, err := s.d.Store.FirstBucket(ctx, t)
	if err != nil || !ok {
		return err
	}
	now := s.d.Now()
	// Up to the next bucket: samples a little in the future are stored.
	last := s.d.Store.BucketOf(s.d.Store.BucketEnd(s.d.Store.BucketOf(now)))
	prev, prevTomb, err := s.readBuckets(ctx, t)
	if err != nil {
		return err
	}
	tomb, err := s.tombstonesHash(ctx, t)
	if err != nil {
		return err
	}
	if tomb != prevTomb {
		prev = nil // Series deletion rewrote chunks: measure everything again.
	}
	var (
		total uint64
		cells []widecolumn.Cell
	)
	for b := first; b <= last && b >= first; b++ {
		m, have := prev[b]
		if !have || !m.measured.After(s.d.Store.BucketEnd(b).Add(settleAfter)) {
			n, err := s.d.Store.ChunkBytes(ctx, t, b)
			if err != nil {
				return fmt.Errorf("measuring bucket %d: %w", b, err)
			}
			m = measurement{bytes: uint64(n), measured: now}
			v := binary.BigEndian.AppendUint64(nil, m.bytes)
			v = binary.BigEndian.AppendUint64(v, uint64(now.UnixMilli()))
			cells = append(cells, widecolumn.Cell{Column: binary.BigEndian.AppendUint32(nil, b), Value: v})
		}
		total += m.bytes
	}
	cells = append(cells, widecolumn.Cell{Column: []byte(tombColumn), Value: binary.BigEndian.AppendUint64(nil, tomb)})
	prefix := widecolumn.Usage.AppendTenant(nil, t)
	err = s.d.Table.Apply(ctx, []widecolumn.RowMutation{
		{Key: append(prefix[:len(prefix):len(prefix)], storedBucketsRow...), Cells: cells},
		{Key: append(prefix[:len(prefix):len(prefix)], storedTotalRow...), Cells: []widecolumn.Cell{{Column: []byte(EncodeColumn(StoredBytesName)), Value: encodeValue(total)}}},
	})
	if err != nil {
		return fmt.Errorf("writing the stored bytes: %w", err)
	}
	// A tenant deleted meanwhile: its chunks went before its usage rows
	// (widecolumn's deletion order), so the rows just written are either
	// dropped by the deletion or found here and dropped.
	if _, ok, err := s.d.Store.FirstBucket(ctx, t); err != nil || !ok {
		for _, row := range []string{storedBucketsRow, storedTotalRow} {
			if derr := s.d.Table.DropPrefix(ctx, append(prefix[:len(prefix):len(prefix)], row...)); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return err
	}
	s.bytes.WithLabelValues(t).Set(float64(total))
	return nil
}

// readBuckets reads the tenant's per-bucket measurements and the
// tombstone hash they were made under.
func (s *Sizer) readBuckets(ctx context.Context, t string) (map[uint32]measurement, uint64, error) {
	key := append(widecolumn.Usage.AppendTenant(nil, t), storedBucketsRow...)
	out := map[uint32]measurement{}
	var tomb uint64
	err := s.d.Table.Read(ctx, widecolumn.ReadRequest{Keys: [][]byte{key}}, func(r widecolumn.Row) bool {
		for _, c := range r.Cells {
			switch {
			case string(c.Column) == tombColumn && len(c.Value) == 8:
				tomb = binary.BigEndian.Uint64(c.Value)
			case len(c.Column) == 4 && len(c.Value) == 16:
				out[binary.BigEndian.Uint32(c.Column)] = measurement{
					bytes:    binary.BigEndian.Uint64(c.Value),
					measured: time.UnixMilli(int64(binary.BigEndian.Uint64(c.Value[8:]))),
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading the stored-bytes measurements: %w", err)
	}
	return out, tomb, nil
}

// tombstonesHash hashes the tenant's series-deletion rows: it changes
// when a deletion is requested or applied.
func (s *Sizer) tombstonesHash(ctx context.Context, t string) (uint64, error) {
	h := fnv.New64a()
	err := s.d.Table.Read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(widecolumn.Tombstones.AppendTenant(nil, t))}}, func(r widecolumn.Row) bool {
		h.Write(binary.AppendUvarint(nil, uint64(len(r.Key))))
		h.Write(r.Key)
		for _, c := range r.Cells {
			h.Write(binary.AppendUvarint(nil, uint64(len(c.Column))))
			h.Write(c.Column)
			h.Write(binary.AppendUvarint(nil, uint64(len(c.Value))))
			h.Write(c.Value)
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("reading the tombstones: %w", err)
	}
	return h.Sum64(), nil
}
