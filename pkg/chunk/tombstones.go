package chunk

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Tombstone is a series deletion recorded in the store: the samples in
// [Start, End] (milliseconds, inclusive) of the series matching every
// matcher are deleted. [Store.Select] hides them from the moment
// [Store.AddTombstone] returns; [Store.ApplyTombstones] rewrites the chunks
// and then removes the tombstone.
type Tombstone struct {
	Matchers   []*labels.Matcher
	Start, End int64
	// Created is when the deletion was requested (milliseconds).
	Created int64
}

// Tombstone rows live in namespace widecolumn.Tombstones, under the
// tenant's prefix:
//
//	tenant prefix │ 'D' │ created (uint64 BE, ms) │ 8-byte FNV-1a of the cell  → column "t": the JSON tombstone
//	tenant prefix │ 'G'                                                     → column "g": the rewrite generation (uint64 BE)
//	tenant prefix │ 'R' │ chunk row key                                       → the rewrite of that chunk row
//
// 'R' rows are the redo log of a rewrite by ApplyTombstones: written
// before the chunk row is dropped and rewritten, removed after. Their
// columns are 'k' + chunk column (a cell to keep or add, with its value)
// and 'x' + chunk column (a cell to remove), plus a marker column.
const (
	tombstoneKind   = 'D'
	generationKind  = 'G'
	redoKind        = 'R'
	tombstoneColumn = "t"
	// redoMarker is a column every redo row has, so a rewrite that leaves
	// the chunk row empty is still a row.
	redoMarker = "\x00"
	// maxTombstoneBytes bounds a tombstone's encoding: a deletion is a few
	// selectors, not a dump.
	maxTombstoneBytes = 64 << 10
)

// tombstoneJSON is a tombstone as stored.
type tombstoneJSON struct {
	Matchers [][3]string `json:"matchers"` // type ("=", "!=", "=~", "!~"), name, value
	Start    int64       `json:"start"`
	End      int64       `json:"end"`
	Created  int64       `json:"created"`
}

// EncodeTombstone returns the stored form of t.
func EncodeTombstone(t Tombstone) ([]byte, error) {
	j := tombstoneJSON{Start: t.Start, End: t.End, Created: t.Created, Matchers: make([][3]string, 0, len(t.Matchers))}
	for _, m := range t.Matchers {
		j.Matchers = append(j.Matchers, [3]string{m.Type.String(), m.Name, m.Value})
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encoding tombstone: %w", err)
	}
	if len(b) > maxTombstoneBytes {
		return nil, fmt.Errorf("tombstone of %d bytes is over the limit of %d", len(b), maxTombstoneBytes)
	}
	return b, nil
}

// DecodeTombstone decodes a stored tombstone; anything but a well-formed
// one (at least one matcher, valid regexes, Start ≤ End) is [ErrCorrupt].
func DecodeTombstone(b []byte) (Tombstone, error) {
	var j tombstoneJSON
	if len(b) > maxTombstoneBytes {
		return Tombstone{}, fmt.Errorf("%w: tombstone of %d bytes", ErrCorrupt, len(b))
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return Tombstone{}, fmt.Errorf("%w: tombstone: %w", ErrCorrupt, err)
	}
	if len(j.Matchers) == 0 || j.Start > j.End {
		return Tombstone{}, fmt.Errorf("%w: tombstone with %d matchers over [%d, %d]", ErrCorrupt, len(j.Matchers), j.Start, j.End)
	}
	t := Tombstone{Start: j.Start, End: j.End, Created: j.Created, Matchers: make([]*labels.Matcher, 0, len(j.Matchers))}
	for _, m := range j.Matchers {
		mt, ok := matchTypes[m[0]]
		if !ok {
			return Tombstone{}, fmt.Errorf("%w: tombstone matcher type %q", ErrCorrupt, m[0])
		}
		lm, err := labels.NewMatcher(mt, m[1], m[2])
		if err != nil {
			return Tombstone{}, fmt.Errorf("%w: tombstone matcher: %w", ErrCorrupt, err)
		}
		t.Matchers = append(t.Matchers, lm)
	}
	return t, nil
}

var matchTypes = map[string]labels.MatchType{
	labels.MatchEqual.String():     labels.MatchEqual,
	labels.MatchNotEqual.String():  labels.MatchNotEqual,
	labels.MatchRegexp.String():    labels.MatchRegexp,
	labels.MatchNotRegexp.String(): labels.MatchNotRegexp,
}

func tombstonePrefix(dst []byte, tenant string, kind byte) []byte {
	return append(widecolumn.Tombstones.AppendTenant(dst, tenant), kind)
}

// AddTombstone records a deletion for tenant. From the moment it returns,
// [Store.Select] of this Store leaves out the deleted samples, and so does
// every Store on the same backend once [Store.SettleTombstones] returns
// (within [Options.TombstoneCacheTTL]). Adding the same deletion twice is
// harmless.
func (s *Store) AddTombstone(ctx context.Context, tenant string, t Tombstone) error {
	if tenant == "" {
		return ErrInvalidTenant
	}
	if len(t.Matchers) == 0 || t.Start > t.End {
		return fmt.Errorf("a tombstone needs a matcher and start ≤ end, got %d matchers over [%d, %d]", len(t.Matchers), t.Start, t.End)
	}
	if t.Created == 0 {
		t.Created = s.now().UnixMilli()
	}
	val, err := EncodeTombstone(t)
	if err != nil {
		return err
	}
	h := fnv.New64a()
	_, _ = h.Write(val)
	key := tombstonePrefix(nil, tenant, tombstoneKind)
	key = binary.BigEndian.AppendUint64(key, uint64(t.Created))
	key = h.Sum(key)
	err = s.apply(ctx, []widecolumn.RowMutation{{Key: key, Cells: []widecolumn.Cell{{Column: []byte(tombstoneColumn), Value: val}}}})
	// Even a failed write may have landed.
	s.tombCache.forget(tenant, s.now())
	if err != nil {
		return fmt.Errorf("writing tombstone of tenant %q: %w", tenant, err)
	}
	s.logger.Info("Added tombstone", "tenant", tenant, "start", t.Start, "end", t.End, "matchers", len(t.Matchers))
	return nil
}

// storedTombstone is a tombstone and its row key.
type storedTombstone struct {
	Tombstone
	key []byte
}

// tombstoneState is what a tenant's tombstone rows say: the tombstones
// not yet applied, oldest first, and the rewrite generation.
type tombstoneState struct {
	list []storedTombstone
	// gen changes every time ApplyTombstones rewrites chunk rows; it is
	// part of the chunk cache's keys, so no Store serves a chunk row as it
	// was before a rewrite once the tombstone that hid it is gone.
	gen []byte
}

func (t tombstoneState) cacheSuffix() string {
	if len(t.gen) == 0 {
		return ""
	}
	return "\x00gen" + string(t.gen)
}

// Tombstones returns tenant's tombstones not yet applied, oldest first.
func (s *Store) Tombstones(ctx context.Context, tenant string) ([]Tombstone, error) {
	st, err := s.tombstones(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]Tombstone, 0, len(st.list))
	for _, t := range st.list {
		out = append(out, t.Tombstone)
	}
	return out, nil
}

// tombstoneCache keeps, per tenant, the tombstones Select read, for
// Options.TombstoneCacheTTL: without it every Select costs a range read
// (empty for most tenants). An entry is trusted for the TTL from when its
// read started, so a deletion written by another process after that is
// honoured within the TTL; AddTombstone forgets the tenant's entry at
// once, and an entry whose read overlapped a forget is not kept. Safe for
// concurrent use; the zero value is empty.
type tombstoneCache struct {
	mu      sync.Mutex
	entries map[string]cachedTombstones
	// forgets counts forget calls: a read that saw it change did not see
	// every deletion of this process.
	forgets uint64
	// lastAdd is when this Store last wrote a tombstone.
	lastAdd time.Time
	// pruned is when expired entries were last dropped: once per TTL, so
	// a Store serving many tenants does not walk them all on every miss.
	pruned time.Time
}

type cachedTombstones struct {
	st     tombstoneState
	readAt time.Time
}

// get returns tenant's tombstones read less than ttl before now.
func (c *tombstoneCache) get(tenant string, now time.Time, ttl time.Duration) (tombstoneState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tenant]
	if !ok || now.Sub(e.readAt) >= ttl {
		return tombstoneState{}, false
	}
	return e.st, true
}

// begin returns the forget count to hand to put after the read.
func (c *tombstoneCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

// put keeps st, read from readAt on, unless a forget happened since begin
// returned forgets. Entries of tenants not asked for within ttl go (at
// most one TTL later).
func (c *tombstoneCache) put(tenant string, st tombstoneState, readAt time.Time, forgets uint64, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return
	}
	if c.entries == nil {
		c.entries = map[string]cachedTombstones{}
	}
	if readAt.Sub(c.pruned) >= ttl {
		for t, e := range c.entries {
			if readAt.Sub(e.readAt) >= ttl {
				delete(c.entries, t)
			}
		}
		c.pruned = readAt
	}
	c.entries[tenant] = cachedTombstones{st: st, readAt: readAt}
}

// forget drops tenant's entry: this Store just wrote a tombstone at now.
func (c *tombstoneCache) forget(tenant string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, tenant)
	c.forgets++
	c.lastAdd = now
}

// cachedTombstones returns tenant's tombstones as Select needs them: from
// the cache when read within Options.TombstoneCacheTTL, else read.
func (s *Store) cachedTombstones(ctx context.Context, tenant string) (tombstoneState, error) {
	ttl := s.opts.TombstoneCacheTTL
	if ttl <= 0 {
		return s.tombstones(ctx, tenant)
	}
	readAt := s.now()
	if st, ok := s.tombCache.get(tenant, readAt, ttl); ok {
		return st, nil
	}
	forgets := s.tombCache.begin()
	st, err := s.tombstones(ctx, tenant)
	if err != nil {
		return st, err
	}
	s.tombCache.put(tenant, st, readAt, forgets, ttl)
	return st, nil
}

// SettleTombstones returns once every Store on the backend honours the
// tombstones this Store has written: Options.TombstoneCacheTTL after the
// last one (at once when that has passed), or when ctx ends. Series
// deletion calls it before it invalidates cached query results, so that
// no result computed from another process's cached tombstones is cached
// anew without the deletion.
func (s *Store) SettleTombstones(ctx context.Context) error {
	s.tombCache.mu.Lock()
	until := s.tombCache.lastAdd.Add(s.opts.TombstoneCacheTTL)
	s.tombCache.mu.Unlock()
	wait := until.Sub(s.now())
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for every store to see the tombstones: %w", context.Cause(ctx))
	}
}

// tombstones reads tenant's tombstone rows (uncached; Select goes through
// cachedTombstones).
func (s *Store) tombstones(ctx context.Context, tenant string) (tombstoneState, error) {
	var st tombstoneState
	if tenant == "" {
		return st, ErrInvalidTenant
	}
	var derr error
	prefix := widecolumn.Tombstones.AppendTenant(nil, tenant)
	ranges := []widecolumn.KeyRange{
		widecolumn.PrefixRange(append(slices.Clone(prefix), tombstoneKind)),
		widecolumn.PrefixRange(append(slices.Clone(prefix), generationKind)),
	}
	err := s.read(ctx, widecolumn.ReadRequest{Ranges: ranges}, func(r widecolumn.Row) bool {
		if len(r.Cells) == 0 || len(r.Key) <= len(prefix) {
			return true
		}
		if r.Key[len(prefix)] == generationKind {
			st.gen = slices.Clone(r.Cells[0].Value)
			return true
		}
		t, err := DecodeTombstone(r.Cells[0].Value)
		if err != nil {
			derr = fmt.Errorf("tombstone row %x: %w", r.Key, err)
			return false
		}
		st.list = append(st.list, storedTombstone{Tombstone: t, key: slices.Clone(r.Key)})
		return true
	})
	if err == nil && derr != nil {
		s.metrics.corruptRows.Inc()
		err = derr
	}
	if err != nil {
		return st, fmt.Errorf("reading tombstones of tenant %q: %w", tenant, err)
	}
	slices.SortFunc(st.list, func(a, b storedTombstone) int { return cmpInt64(a.Created, b.Created) })
	return st, nil
}

// TombstoneTenants lists the tenants with tombstones or rewrites pending.
func (s *Store) TombstoneTenants(ctx context.Context) ([]string, error) {
	return widecolumn.Tenants(ctx, s.timed(), widecolumn.Tombstones)
}

// deletedIntervals returns the merged intervals the tombstones delete from
// the series with labels ls, within [mint, maxt]; nil when none.
func deletedIntervals(ts []storedTombstone, ls labels.Labels, mint, maxt int64) []interval {
	var out []interval
	for _, t := range ts {
		if t.End < mint || t.Start > maxt || !matchesAll(ls, t.Matchers) {
			continue
		}
		out = append(out, interval{t.Start, t.End})
	}
	return mergeIntervals(out)
}

// interval is [mint, maxt] in milliseconds, inclusive.
type interval struct{ mint, maxt int64 }

func mergeIntervals(in []interval) []interval {
	if len(in) < 2 {
		return in
	}
	slices.SortFunc(in, func(a, b interval) int { return cmpInt64(a.mint, b.mint) })
	out := in[:1]
	for _, iv := range in[1:] {
		last := &out[len(out)-1]
		if iv.mint <= last.maxt+1 {
			last.maxt = max(last.maxt, iv.maxt)
			continue
		}
		out = append(out, iv)
	}
	return out
}

func inIntervals(ivs []interval, t int64) bool {
	for _, iv := range ivs {
		if t >= iv.mint && t <= iv.maxt {
			return true
		}
	}
	return false
}

// overlapsIntervals reports whether [mint, maxt] overlaps an interval.
func overlapsIntervals(ivs []interval, mint, maxt int64) bool {
	for _, iv := range ivs {
		if iv.mint <= maxt && iv.maxt >= mint {
			return true
		}
	}
	return false
}

// errUnknownEncoding is a chunk whose encoding deleteSamples cannot write.
var errUnknownEncoding = errors.New("chunk encoding cannot be rewritten")

// deleteSamples returns c without its samples in ivs: c itself when none
// is deleted, nothing when all are, else the remaining samples re-encoded
// (histogram chunks may need several chunks where the appender cuts
// them).
func deleteSamples(c Chunk, ivs []interval) ([]Chunk, error) {
	if !overlapsIntervals(ivs, c.MinTime, c.MaxTime) {
		return []Chunk{c}, nil
	}
	if covered(ivs, c.MinTime, c.MaxTime) {
		return nil, nil
	}
	src, err := c.Open()
	if err != nil {
		return nil, err
	}
	var (
		out    []Chunk
		cur    chunkenc.Chunk
		app    chunkenc.Appender
		curMin int64
		lastT  int64
		it     = src.Iterator(nil)
		cut    = func() {
			if cur != nil && cur.NumSamples() > 0 {
				out = append(out, Chunk{MinTime: curMin, MaxTime: lastT, Encoding: cur.Encoding(), Data: slices.Clone(cur.Bytes())})
			}
			cur, app = nil, nil
		}
		start = func(t int64) error {
			cur, err = chunkenc.NewEmptyChunk(c.Encoding)
			if err != nil {
				return fmt.Errorf("%w: %w", errUnknownEncoding, err)
			}
			app, err = cur.Appender()
			curMin = t
			return err
		}
	)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		t := it.AtT()
		if inIntervals(ivs, t) {
			continue
		}
		if cur == nil {
			if err := start(t); err != nil {
				return nil, err
			}
		}
		switch vt {
		case chunkenc.ValFloat:
			_, v := it.At()
			app.Append(it.AtST(), t, v)
		case chunkenc.ValHistogram:
			_, h := it.AtHistogram(nil)
			nc, recoded, napp, err := app.AppendHistogram(nil, it.AtST(), t, h, false)
			if err != nil {
				return nil, fmt.Errorf("re-encoding histogram chunk: %w", err)
			}
			if nc != nil && !recoded {
				cut()
				curMin = t
			}
			if nc != nil {
				cur = nc
			}
			app = napp
		case chunkenc.ValFloatHistogram:
			_, h := it.AtFloatHistogram(nil)
			nc, recoded, napp, err := app.AppendFloatHistogram(nil, it.AtST(), t, h, false)
			if err != nil {
				return nil, fmt.Errorf("re-encoding float histogram chunk: %w", err)
			}
			if nc != nil && !recoded {
				cut()
				curMin = t
			}
			if nc != nil {
				cur = nc
			}
			app = napp
		}
		lastT = t
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading chunk: %w", ErrCorrupt, err)
	}
	cut()
	return out, nil
}

// covered reports whether one interval holds all of [mint, maxt].
func covered(ivs []interval, mint, maxt int64) bool {
	for _, iv := range ivs {
		if iv.mint <= mint && iv.maxt >= maxt {
			return true
		}
	}
	return false
}

// applyTombstones removes the deleted samples from the chunks of the
// series Select found.
func applyTombstones(series []Series, ts []storedTombstone, mint, maxt int64) ([]Series, error) {
	out := series[:0]
	for _, sr := range series {
		ivs := deletedIntervals(ts, sr.Labels, mint, maxt)
		if ivs == nil {
			out = append(out, sr)
			continue
		}
		kept := make([]Chunk, 0, len(sr.Chunks))
		for _, c := range sr.Chunks {
			cs, err := deleteSamples(c, ivs)
			if err != nil {
				return nil, fmt.Errorf("deleting samples of series %.200q: %w", sr.Labels.String(), err)
			}
			for _, k := range cs {
				if k.MaxTime >= mint && k.MinTime <= maxt {
					kept = append(kept, k)
				}
			}
		}
		if len(kept) == 0 {
			continue
		}
		slices.SortFunc(kept, func(a, b Chunk) int {
			if a.MinTime != b.MinTime {
				return cmpInt64(a.MinTime, b.MinTime)
			}
			return cmpInt64(a.MaxTime, b.MaxTime)
		})
		sr.Chunks = kept
		out = append(out, sr)
	}
	return out, nil
}
