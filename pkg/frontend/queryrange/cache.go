package queryrange

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/resultpb"
	"github.com/hearthmetrics/hearth/proto/wire"
)

// cacheMiddleware answers range queries from cached extents: only the
// sub-ranges no extent covers go to the next handler, and the parts of the
// answers older than the tenant's max_cache_freshness (and out-of-order
// window) are added to the entry.
type cacheMiddleware struct {
	next Handler
	m    *Middlewares
}

// extent is a cached answer for [Start, End] (both on the key's step grid).
type extent struct {
	Start  int64                 `json:"start"`
	End    int64                 `json:"end"`
	Infos  []string              `json:"infos,omitempty"`
	Matrix []*model.SampleStream `json:"matrix"`
}

// cacheEntry is the value stored under a key: the logical key, checked on
// every hit so two keys whose hashes collide never share an entry, and the
// extents sorted by start, none overlapping or adjacent.
type cacheEntry struct {
	Key     string    `json:"key"`
	Extents []*extent `json:"extents"`
}

func (c *cacheMiddleware) Do(ctx context.Context, r *Request) (*Response, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	tl := c.m.tenantLimits(id)
	now := c.m.now().UnixMilli()
	maxCacheT, ok := c.cacheableUntil(r, tl, now)
	if !ok {
		return c.next.Do(ctx, r)
	}
	gens, err := c.generations(ctx, tl.ids)
	if err != nil {
		c.m.deps.Logger.Warn("Reading the cache generation failed; not caching", "tenant", id, "err", err)
		return c.next.Do(ctx, r)
	}
	key := cacheKey(string(id), gens, r, c.m.cfg.SplitQueriesByInterval.Milliseconds())
	hashed := hashKey(key)
	entry := c.fetch(ctx, string(id), key, hashed)

	missing := missingRanges(entry.Extents, r.Start, r.End, r.Step)
	stats := statsOf(ctx)
	if len(missing) == 0 {
		c.m.metrics.cacheHits.WithLabelValues(string(id)).Inc()
		stats.CacheHits.Add(1)
	} else {
		c.m.metrics.cacheMisses.WithLabelValues(string(id)).Inc()
		stats.CacheMisses.Add(1)
	}
	fetched := make([]*Response, len(missing))
	g, gctx := errgroup.WithContext(ctx)
	for i, mr := range missing {
		g.Go(func() error {
			resp, err := c.next.Do(gctx, r.WithRange(mr[0], mr[1]))
			if err != nil {
				return err
			}
			if resp.ResultType != typeMatrix {
				return fmt.Errorf("a range query answered a %s, not a matrix", resp.ResultType)
			}
			fetched[i] = resp
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	var parts []*Response
	for _, e := range entry.Extents {
		if e.End >= r.Start && e.Start <= r.End {
			parts = append(parts, &Response{ResultType: typeMatrix, Matrix: e.Matrix, Infos: e.Infos})
		}
	}
	parts = append(parts, fetched...)
	// filterRange only drops samples: the parts are copied by mergeMatrices
	// before the new extents below share their series.
	out := filterRange(mergeMatrices(parts), r.Start, r.End)

	// The newest grid point old enough to cache.
	lastCacheable := r.Start + floorDiv(maxCacheT-r.Start, r.Step)*r.Step
	added := false
	for i, resp := range fetched {
		if len(resp.Warnings) > 0 {
			continue
		}
		end := min(missing[i][1], lastCacheable)
		if end < missing[i][0] {
			continue
		}
		cut := filterRange(resp, missing[i][0], end)
		entry.Extents = append(entry.Extents, &extent{Start: missing[i][0], End: end, Infos: resp.Infos, Matrix: cut.Matrix})
		added = true
	}
	if added {
		entry.Extents = mergeExtents(entry.Extents, r.Step)
		c.store(ctx, string(id), hashed, entry)
	}
	return out, nil
}

// cacheableUntil returns the newest time whose results may be cached for
// r, or false when r must not use the cache at all.
func (c *cacheMiddleware) cacheableUntil(r *Request, tl tenantLimits, now int64) (int64, bool) {
	if r.NoStore {
		return 0, false
	}
	if (r.Start%r.Step != 0 || r.End%r.Step != 0) && !tl.cacheUnaligned {
		return 0, false
	}
	expr, err := c.m.parser.ParseExpr(r.Query)
	if err != nil {
		return 0, false
	}
	qi := analyse(expr)
	if qi.dependsOnRange || qi.negativeOffset {
		return 0, false
	}
	maxCacheT := now - max(tl.freshness, tl.oooWindow).Milliseconds()
	if qi.hasAt && (qi.maxAt > now-tl.freshness.Milliseconds() || qi.maxAt > r.End) {
		return 0, false
	}
	return maxCacheT, true
}

func (c *cacheMiddleware) generations(ctx context.Context, ids []string) ([]uint64, error) {
	gens := make([]uint64, len(ids))
	if c.m.deps.Generations == nil {
		return gens, nil
	}
	for i, id := range ids {
		g, err := c.m.deps.Generations.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("reading the cache generation of tenant %q: %w", id, err)
		}
		gens[i] = g
	}
	return gens, nil
}

func (c *cacheMiddleware) fetch(ctx context.Context, id, key, hashed string) *cacheEntry {
	empty := &cacheEntry{Key: key}
	raw, ok := c.m.cache.Fetch(ctx, []string{hashed})[hashed]
	if !ok {
		return empty
	}
	c.m.metrics.cacheFetchBytes.WithLabelValues(id).Add(float64(len(raw)))
	e, err := decodeEntry(raw)
	if err != nil {
		c.m.deps.Logger.Warn("Dropping an undecodable results-cache entry", "tenant", id, "err", err)
		return empty
	}
	if e.Key != key {
		// Another key with the same hash: never served.
		return empty
	}
	return e
}

func (c *cacheMiddleware) store(ctx context.Context, id, hashed string, e *cacheEntry) {
	raw, err := encodeEntry(e)
	if err != nil {
		c.m.deps.Logger.Warn("Encoding a results-cache entry failed", "tenant", id, "err", err)
		return
	}
	c.m.metrics.cacheStoreBytes.WithLabelValues(id).Add(float64(len(raw)))
	c.m.cache.Store(ctx, hashed, raw)
}

// cacheKey is the logical key of r's entry: every part length-prefixed, so
// no two different tuples make the same key. A federated tenant "a|b" is
// its own string, never equal to "a".
func cacheKey(id string, gens []uint64, r *Request, interval int64) string {
	var b []byte
	part := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	part("queryrange/v3") // v3: entries in resultpb form (v2: gob, v1: JSON)
	part(id)
	for _, g := range gens {
		part(strconv.FormatUint(g, 10))
	}
	part(strconv.FormatInt(r.Step, 10))
	part(strconv.FormatInt(((r.Start%r.Step)+r.Step)%r.Step, 10))
	bucket := int64(0)
	if interval > 0 {
		bucket = floorDiv(r.Start, interval)
	}
	part(strconv.FormatInt(interval, 10))
	part(strconv.FormatInt(bucket, 10))
	part(r.Query)
	return string(b)
}

// hashKey makes a memcached-safe key of a logical key.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "qr:" + hex.EncodeToString(sum[:])
}

// encodeEntry encodes e, then compresses it with snappy. Each extent's
// series go in proto/resultpb's form, the one queriers answer in (values
// as IEEE bits: NaN, stale markers and -0 survive; histograms with their
// buckets), inside a hand-written protobuf envelope:
//
//	message Entry  { string key = 1; repeated Extent extents = 2; }
//	message Extent { sint64 start = 1; sint64 end = 2; bytes result = 3; } // result: a resultpb Result of type matrix, its infos the extent's
//
// Not gob (until issue #18): gob's reflection and the copy of every
// series into its wire struct took twice the time and 4x the memory of
// this for a day of 500 series at 1m (BenchmarkResultCodecs). Not JSON:
// 10x gob.
func encodeEntry(e *cacheEntry) ([]byte, error) {
	// Sized up front: append grows a large slice by a quarter at a time,
	// which copied a day of 500 series five times over.
	size, largest := 16+len(e.Key), 0
	for _, x := range e.Extents {
		n := 64
		for _, s := range x.Matrix {
			if slices.ContainsFunc(s.Histograms, func(h model.SampleHistogramPair) bool { return h.Histogram == nil }) {
				return nil, errors.New("encoding a results-cache entry: a histogram without a value")
			}
			n += 64 + 48*len(s.Metric) + 12*len(s.Values) + 256*len(s.Histograms) // a value is 8 bytes, its timestamp a varint of 1-4
		}
		size += n
		largest = max(largest, n)
	}
	buf := make([]byte, 0, size)
	result := make([]byte, 0, largest)
	buf = protowire.AppendTag(buf, 1, protowire.BytesType)
	buf = protowire.AppendString(buf, e.Key)
	for _, x := range e.Extents {
		result = resultpb.AppendMatrix(result[:0], x.Matrix, x.Infos)
		start, end := protowire.EncodeZigZag(x.Start), protowire.EncodeZigZag(x.End)
		n := 3*protowire.SizeTag(1) + protowire.SizeVarint(start) + protowire.SizeVarint(end) + protowire.SizeBytes(len(result))
		buf = protowire.AppendTag(buf, 2, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(n))
		buf = protowire.AppendTag(buf, 1, protowire.VarintType)
		buf = protowire.AppendVarint(buf, start)
		buf = protowire.AppendTag(buf, 2, protowire.VarintType)
		buf = protowire.AppendVarint(buf, end)
		buf = protowire.AppendTag(buf, 3, protowire.BytesType)
		buf = protowire.AppendBytes(buf, result)
	}
	return snappy.Encode(nil, buf), nil
}

// maxEntryBytes bounds a decoded entry, checked before decompressing.
const maxEntryBytes = 256 << 20

func decodeEntry(raw []byte) (*cacheEntry, error) {
	n, err := snappy.DecodedLen(raw)
	if err != nil {
		return nil, fmt.Errorf("decompressing a results-cache entry: %w", err)
	}
	if n > maxEntryBytes {
		return nil, fmt.Errorf("results-cache entry of %d bytes decompressed, more than %d", n, maxEntryBytes)
	}
	plain, err := snappy.Decode(nil, raw)
	if err != nil {
		return nil, fmt.Errorf("decompressing a results-cache entry: %w", err)
	}
	e := &cacheEntry{}
	r := wire.NewReader(plain, "Entry")
	for r.Next() {
		switch r.Field() {
		case 1:
			e.Key = strings.Clone(r.String("Entry.key"))
		case 2:
			sub := r.Message("Entry.extents", "Extent")
			x, err := decodeExtent(&sub)
			if err != nil {
				return nil, fmt.Errorf("decoding a results-cache entry: %w", err)
			}
			e.Extents = append(e.Extents, x)
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decoding a results-cache entry: %w", err)
	}
	slices.SortFunc(e.Extents, func(a, b *extent) int { return cmpInt(a.Start, b.Start) })
	return e, nil
}

func decodeExtent(r *wire.Reader) (*extent, error) {
	x := &extent{}
	var result []byte
	for r.Next() {
		switch r.Field() {
		case 1:
			x.Start = r.Sint64("Extent.start")
		case 2:
			x.End = r.Sint64("Extent.end")
		case 3:
			result = r.Bytes("Extent.result")
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if x.End < x.Start {
		return nil, errors.New("an extent that ends before it starts")
	}
	res, err := resultpb.Decode(result)
	if err != nil {
		return nil, err
	}
	if res.ResultType != resultpb.TypeMatrix {
		return nil, fmt.Errorf("an extent holding a %s", res.ResultType)
	}
	x.Matrix, x.Infos = res.Matrix, res.Infos
	return x, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// missingRanges returns the ranges of [start, end] (on the step grid of
// start) that no extent covers. Extents are sorted by start.
func missingRanges(extents []*extent, start, end, step int64) [][2]int64 {
	var out [][2]int64
	cur := start
	for _, e := range extents {
		if e.End < cur {
			continue
		}
		if e.Start > end {
			break
		}
		if e.Start > cur {
			// The last grid point before the extent.
			last := cur + floorDiv(e.Start-1-cur, step)*step
			if last >= cur {
				out = append(out, [2]int64{cur, min(last, end)})
			}
		}
		// The first grid point after the extent.
		cur = max(cur, cur+(floorDiv(e.End-cur, step)+1)*step)
	}
	if cur <= end {
		out = append(out, [2]int64{cur, end})
	}
	return out
}

// mergeExtents sorts extents and merges those that overlap or touch (the
// next starts at most one step after the previous ends).
func mergeExtents(es []*extent, step int64) []*extent {
	slices.SortFunc(es, func(a, b *extent) int { return cmpInt(a.Start, b.Start) })
	var out []*extent
	for _, e := range es {
		if n := len(out); n > 0 && e.Start <= out[n-1].End+step {
			last := out[n-1]
			merged := mergeMatrices([]*Response{
				{ResultType: typeMatrix, Matrix: last.Matrix, Infos: last.Infos},
				{ResultType: typeMatrix, Matrix: e.Matrix, Infos: e.Infos},
			})
			out[n-1] = &extent{Start: last.Start, End: max(last.End, e.End), Infos: merged.Infos, Matrix: merged.Matrix}
			continue
		}
		out = append(out, e)
	}
	return out
}
