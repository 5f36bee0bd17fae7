package chunk

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/sync/errgroup"

	"github.com/hearthmetrics/hearth/pkg/queryshard"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Series is one series read from the store.
type Series struct {
	Labels labels.Labels
	// Chunks overlap the query range, sorted by MinTime then MaxTime, each
	// content stored once. Their Data may be shared with the chunk cache:
	// callers must not modify it.
	Chunks []Chunk
}

// Select returns the series of tenant that match every matcher and have
// chunks overlapping [mint, maxt] (milliseconds, inclusive), sorted by
// labels. It reads every bucket the range touches; a series found in
// several buckets is returned once with the chunks of all of them.
//
// No metric name is needed: every matcher that does not match the empty
// string reads its postings (equality and set regexes read their rows
// only, other regexes scan the label's rows with the regex pushed to the
// backend); the others filter the series' labels afterwards. With no such
// matcher every series of the buckets is read.
//
// The samples that tombstones ([Store.AddTombstone]) delete are left out:
// chunks wholly deleted are dropped, chunks partly deleted re-encoded, and
// a series left without chunks is not returned.
//
// A __query_shard__ matcher (package queryshard) keeps, once the label
// sets are known and before any chunk is read, only the series of that
// shard; a malformed one is [queryshard.ErrMalformed].
func (s *Store) Select(ctx context.Context, tenant string, mint, maxt int64, matchers ...*labels.Matcher) ([]Series, error) {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("select").Observe(time.Since(start).Seconds()) }()
	hits, err := s.selectSeries(ctx, tenant, mint, maxt, matchers)
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	mint = max(mint, 0)
	tomb, err := s.cachedTombstones(ctx, tenant)
	if err != nil {
		return nil, err
	}

	var (
		keys      [][]byte
		cacheable []bool
		owners    []int
	)
	for i, h := range hits {
		for _, b := range h.buckets {
			lo, hi := max(mint, s.schema.bucketStart(b)), min(maxt, s.schema.bucketEnd(b))
			for w := s.schema.windowOf(lo); w <= hi; w += s.schema.windowMillis {
				keys = append(keys, chunkKey(nil, tenant, b, h.id, w))
				cacheable = append(cacheable, s.cacheable(b))
				owners = append(owners, i)
			}
		}
	}
	rows, err := s.readRows(ctx, s.chunkCache, tomb.cacheSuffix(), keys, cacheable)
	if err != nil {
		return nil, fmt.Errorf("reading chunks of tenant %q: %w", tenant, err)
	}
	out := make([]Series, len(hits))
	seen := make([]map[string]struct{}, len(hits))
	for i, key := range keys {
		h := owners[i]
		for _, c := range rows[string(key)] {
			ch, err := decodeChunkCell(c.Value)
			if err != nil {
				s.metrics.corruptRows.Inc()
				return nil, fmt.Errorf("decoding chunk of series %.200q of tenant %q: %w", hits[h].labels.String(), tenant, err)
			}
			if ch.MaxTime < mint || ch.MinTime > maxt {
				continue
			}
			if seen[h] == nil {
				seen[h] = map[string]struct{}{}
			}
			if _, dup := seen[h][string(c.Column)]; dup {
				continue
			}
			seen[h][string(c.Column)] = struct{}{}
			out[h].Chunks = append(out[h].Chunks, ch)
		}
	}
	res := out[:0]
	chunkBytes := 0
	for i, sr := range out {
		if len(sr.Chunks) == 0 {
			continue
		}
		sr.Labels = hits[i].labels
		slices.SortFunc(sr.Chunks, func(a, b Chunk) int {
			if a.MinTime != b.MinTime {
				return cmpInt64(a.MinTime, b.MinTime)
			}
			return cmpInt64(a.MaxTime, b.MaxTime)
		})
		for _, c := range sr.Chunks {
			chunkBytes += len(c.Data)
		}
		res = append(res, sr)
	}
	if len(tomb.list) > 0 {
		if res, err = applyTombstones(res, tomb.list, mint, maxt); err != nil {
			return nil, fmt.Errorf("applying tombstones of tenant %q: %w", tenant, err)
		}
	}
	s.metrics.readSeries.WithLabelValues(tenant).Add(float64(len(res)))
	s.metrics.readChunkBytes.WithLabelValues(tenant).Add(float64(chunkBytes))
	return res, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// LabelNames returns the sorted label names of tenant's series in the
// buckets that [mint, maxt] touches (bucket resolution), restricted to series
// matching matchers when any are given (a query shard matcher as in
// [Store.Select]).
func (s *Store) LabelNames(ctx context.Context, tenant string, mint, maxt int64, matchers ...*labels.Matcher) ([]string, error) {
	start := time.Now()
	defer func() { s.metrics.operationSeconds.WithLabelValues("label_names").Observe(time.Since(start).Seconds()) }()
	names := map[string]struct{}{}
	if len(matchers) > 0 {
		hits, err := s.selectSeries(ctx, tenant, mint, maxt, matchers)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			h.labels.Range(func(l labels.Label) { names[l.Name] = struct{}{} })
		}
		return sortedKeys(names), nil
	}
	first, last, ok, err := s.bucketRange(ctx, tenant, mint, maxt)
	if err != nil || !ok {
		return nil, err
	}
	var (
		keys      [][]byte
		cacheable []bool
	)
	for b := first; ; b++ {
		keys = append(keys, namesKey(nil, tenant, b))
		cacheable = append(cacheable, s.cacheable(b))
		if b == last {
			break
		}
	}
	rows, err := s.readRows(ctx, s.indexCache, "", keys, cacheable)
	if err != nil {
		return nil, fmt.Errorf("reading label names of tenant %q: %w", tenant, err)
	}
	for _, cells := range rows {
		for _, c := range cells {
			names[string(c.Column)] = struct{}{}
		}
	}
	return sortedKeys(names), nil
}

// LabelValues returns the sorted values of label name among tenant's series
// in the buckets that [mint, maxt] touches (bucket resolution), restricted to
// series matching matchers when any are given (a query shard matcher as in
// [Store.Select]).
func (s *Store) LabelValues(ctx context.Context, tenant, name string, mint, maxt int64, matchers ...*labels.Matcher) ([]string, error) {
	start := time.Now()
	defer func() {
		s.metrics.operationSeconds.WithLabelValues("label_values").Observe(time.Since(start).Seconds())
	}()
	values := map[string]struct{}{}
	if len(matchers) > 0 {
		hits, err := s.selectSeries(ctx, tenant, mint, maxt, matchers)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if v := h.labels.Get(name); v != "" {
				values[v] = struct{}{}
			}
		}
		return sortedKeys(values), nil
	}
	first, last, ok, err := s.bucketRange(ctx, tenant, mint, maxt)
	if err != nil || !ok {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.QueryParallelism)
	perBucket := make([][]string, last-first+1)
	for b := first; ; b++ {
		g.Go(func() error {
			vs, err := s.bucketLabelValues(gctx, tenant, b, name)
			perBucket[b-first] = vs
			return err
		})
		if b == last {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("reading values of label %q of tenant %q: %w", name, tenant, err)
	}
	for _, vs := range perBucket {
		for _, v := range vs {
			values[v] = struct{}{}
		}
	}
	return sortedKeys(values), nil
}

// bucketLabelValues reads the first cell of every postings row of name: the
// value comes from the key, or from the value column when it is hashed.
func (s *Store) bucketLabelValues(ctx context.Context, tenant string, b uint32, name string) ([]string, error) {
	prefix := s.schema.postingsNamePrefix(nil, tenant, b, name)
	cacheKey := string(prefix) + "\x00values"
	if v, ok := s.indexCache.get(cacheKey); ok {
		return v.([]string), nil
	}
	seen := map[string]struct{}{}
	var derr error
	err := s.read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(prefix)}, CellsPerRow: 1}, func(r widecolumn.Row) bool {
		v, err := s.postingsValue(r)
		if err != nil {
			derr = err
			return false
		}
		seen[v] = struct{}{}
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	vs := sortedKeys(seen)
	if s.cacheable(b) {
		size := 0
		for _, v := range vs {
			size += len(v) + 16
		}
		s.indexCache.put(cacheKey, vs, int64(size))
	}
	return vs, nil
}

// postingsValue returns the label value of a postings row.
func (s *Store) postingsValue(r widecolumn.Row) (string, error) {
	p, err := parseKey(r.Key)
	if err == nil && p.Kind != kindPostings {
		err = fmt.Errorf("%w: row of kind %q among postings", ErrCorrupt, p.Kind)
	}
	if err != nil {
		s.metrics.corruptRows.Inc()
		return "", err
	}
	if p.ValueKind != partHashed {
		return string(p.Value), nil
	}
	if len(r.Cells) == 0 || len(r.Cells[0].Column) != 0 {
		s.metrics.corruptRows.Inc()
		return "", fmt.Errorf("%w: hashed postings row without its value", ErrCorrupt)
	}
	return string(r.Cells[0].Value), nil
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// seriesHit is a series found by the index: its labels and the buckets in
// which it is indexed.
type seriesHit struct {
	id      SeriesID
	labels  labels.Labels
	buckets []uint32
}

// bucketRange returns the buckets [mint, maxt] touches, clamped to the
// tenant's first bucket and to one bucket past now, so open-ended ranges
// (the API's default of all time) stay cheap.
func (s *Store) bucketRange(ctx context.Context, tenant string, mint, maxt int64) (uint32, uint32, bool, error) {
	if tenant == "" {
		return 0, 0, false, ErrInvalidTenant
	}
	mint = max(mint, 0)
	maxt = min(maxt, s.now().UnixMilli()+s.schema.bucketMillis)
	if maxt < mint {
		return 0, 0, false, nil
	}
	first, last := s.schema.bucketOf(mint), s.schema.bucketOf(maxt)
	if last-first > 31 {
		fb, ok, err := s.firstBucket(ctx, tenant)
		if err != nil || !ok {
			return 0, 0, false, err
		}
		first = max(first, fb)
		if first > last {
			return 0, 0, false, nil
		}
	}
	return first, last, true, nil
}

// selectSeries returns the series matching every matcher in the buckets of
// [mint, maxt], sorted by labels. A query shard matcher is taken out of
// matchers and keeps the series of its shard only.
func (s *Store) selectSeries(ctx context.Context, tenant string, mint, maxt int64, matchers []*labels.Matcher) ([]*seriesHit, error) {
	shard, matchers, err := queryshard.Split(matchers)
	if err != nil {
		return nil, err
	}
	first, last, ok, err := s.bucketRange(ctx, tenant, mint, maxt)
	if err != nil || !ok {
		return nil, err
	}
	var positives []*labels.Matcher
	for _, m := range matchers {
		if !m.Matches("") {
			positives = append(positives, m)
		}
	}
	n := int(last-first) + 1
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.QueryParallelism)
	all := make([][]seriesEntry, n)
	sets := make([][][]SeriesID, n)
	for i := range n {
		b := first + uint32(i)
		if len(positives) == 0 {
			g.Go(func() error {
				es, err := s.allSeries(gctx, tenant, b)
				all[i] = es
				return err
			})
			continue
		}
		sets[i] = make([][]SeriesID, len(positives))
		for j, m := range positives {
			g.Go(func() error {
				ids, err := s.postings(gctx, tenant, b, m)
				sets[i][j] = ids
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("reading the index of tenant %q: %w", tenant, err)
	}

	hits := map[SeriesID]*seriesHit{}
	var order []*seriesHit
	add := func(id SeriesID, b uint32, ls labels.Labels) {
		h, ok := hits[id]
		if !ok {
			h = &seriesHit{id: id, labels: ls}
			hits[id] = h
			order = append(order, h)
		}
		h.buckets = append(h.buckets, b)
	}
	for i := range n {
		b := first + uint32(i)
		if len(positives) == 0 {
			for _, e := range all[i] {
				add(e.id, b, e.labels)
			}
			continue
		}
		for _, id := range intersect(sets[i]) {
			add(id, b, labels.EmptyLabels())
		}
	}
	if err := s.resolveLabels(ctx, tenant, order); err != nil {
		return nil, err
	}
	out := order[:0]
	for _, h := range order {
		if h.labels.IsEmpty() || !matchesAll(h.labels, matchers) || (shard != nil && !shard.Contains(h.labels)) {
			continue
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b *seriesHit) int { return labels.Compare(a.labels, b.labels) })
	return out, nil
}

func matchesAll(ls labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// intersect returns the IDs present in every set.
func intersect(sets [][]SeriesID) []SeriesID {
	if len(sets) == 0 {
		return nil
	}
	slices.SortFunc(sets, func(a, b []SeriesID) int { return len(a) - len(b) })
	out := sets[0]
	for _, set := range sets[1:] {
		if len(out) == 0 {
			break
		}
		in := make(map[SeriesID]struct{}, len(set))
		for _, id := range set {
			in[id] = struct{}{}
		}
		kept := make([]SeriesID, 0, len(out))
		for _, id := range out {
			if _, ok := in[id]; ok {
				kept = append(kept, id)
			}
		}
		out = kept
	}
	return out
}

// resolveLabels reads the series row of every hit without labels, from the
// first bucket it was found in. Hits whose series row is missing (a write
// that failed half way, to be retried) keep empty labels and are dropped.
func (s *Store) resolveLabels(ctx context.Context, tenant string, hits []*seriesHit) error {
	var (
		keys      [][]byte
		cacheable []bool
		idx       []int
	)
	for i, h := range hits {
		if !h.labels.IsEmpty() {
			continue
		}
		keys = append(keys, seriesKey(nil, tenant, h.buckets[0], h.id))
		cacheable = append(cacheable, s.cacheable(h.buckets[0]))
		idx = append(idx, i)
	}
	if len(keys) == 0 {
		return nil
	}
	rows, err := s.readRows(ctx, s.indexCache, "", keys, cacheable)
	if err != nil {
		return fmt.Errorf("reading series of tenant %q: %w", tenant, err)
	}
	var b labels.ScratchBuilder
	for i, key := range keys {
		cells := rows[string(key)]
		if len(cells) == 0 {
			continue
		}
		ls, err := decodeLabels(&b, cells[0].Value)
		if err != nil {
			s.metrics.corruptRows.Inc()
			return fmt.Errorf("decoding series row %x of tenant %q: %w", key, tenant, err)
		}
		hits[idx[i]].labels = ls
	}
	return nil
}

type seriesEntry struct {
	id     SeriesID
	labels labels.Labels
}

// allSeries reads every series row of a bucket.
func (s *Store) allSeries(ctx context.Context, tenant string, b uint32) ([]seriesEntry, error) {
	prefix := appendBucket(nil, tenant, b, kindSeries)
	cacheKey := string(prefix) + "\x00all"
	if v, ok := s.indexCache.get(cacheKey); ok {
		return v.([]seriesEntry), nil
	}
	var (
		out  []seriesEntry
		derr error
		lb   labels.ScratchBuilder
		size int
	)
	err := s.read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(prefix)}}, func(r widecolumn.Row) bool {
		p, err := parseKey(r.Key)
		if err != nil || p.Kind != kindSeries || len(r.Cells) == 0 {
			derr = fmt.Errorf("%w: bad series row %x", ErrCorrupt, r.Key)
			return false
		}
		ls, err := decodeLabels(&lb, r.Cells[0].Value)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, seriesEntry{id: p.SeriesID, labels: ls})
		size += len(r.Cells[0].Value) + 64
		return true
	})
	if err == nil && derr != nil {
		s.metrics.corruptRows.Inc()
		err = derr
	}
	if err != nil {
		return nil, err
	}
	if s.cacheable(b) {
		s.indexCache.put(cacheKey, out, int64(size))
	}
	return out, nil
}

// postings returns the IDs of the series of bucket b whose label m.Name has
// a non-empty value matching m.
func (s *Store) postings(ctx context.Context, tenant string, b uint32, m *labels.Matcher) ([]SeriesID, error) {
	namePrefix := s.schema.postingsNamePrefix(nil, tenant, b, m.Name)
	cacheKey := string(namePrefix) + "\x00" + m.Type.String() + "\x00" + m.Value
	if v, ok := s.indexCache.get(cacheKey); ok {
		return v.([]SeriesID), nil
	}
	var req widecolumn.ReadRequest
	switch set := m.SetMatches(); {
	case m.Type == labels.MatchEqual:
		req.Ranges = []widecolumn.KeyRange{widecolumn.PrefixRange(s.schema.postingsValuePrefix(nil, tenant, b, m.Name, m.Value))}
	case m.Type == labels.MatchRegexp && len(set) > 0:
		slices.Sort(set)
		for _, v := range slices.Compact(set) {
			req.Ranges = append(req.Ranges, widecolumn.PrefixRange(s.schema.postingsValuePrefix(nil, tenant, b, m.Name, v)))
		}
		slices.SortFunc(req.Ranges, func(a, b widecolumn.KeyRange) int { return bytes.Compare(a.Start, b.Start) })
	default:
		req.Ranges = []widecolumn.KeyRange{widecolumn.PrefixRange(namePrefix)}
		if m.Type == labels.MatchRegexp {
			if re, ok := postingsRegex(namePrefix, m.Value); ok {
				req.RowKeyRegex = re
				s.metrics.regexPushdowns.Inc()
			}
		}
	}
	var (
		ids  []SeriesID
		derr error
	)
	err := s.read(ctx, req, func(r widecolumn.Row) bool {
		v, err := s.postingsValue(r)
		if err != nil {
			derr = err
			return false
		}
		if !m.Matches(v) {
			return true
		}
		for _, c := range r.Cells {
			if len(c.Column) == seriesIDLen {
				ids = append(ids, SeriesID(c.Column))
			}
		}
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	if s.cacheable(b) {
		s.indexCache.put(cacheKey, ids, int64(len(ids)*seriesIDLen+24))
	}
	return ids, nil
}

// readRows reads rows by key through cache, under the row key followed by
// suffix. Only keys marked cacheable are cached, absent rows included (as
// nil).
func (s *Store) readRows(ctx context.Context, cache *lru, suffix string, keys [][]byte, cacheable []bool) (map[string][]widecolumn.Cell, error) {
	out := make(map[string][]widecolumn.Cell, len(keys))
	var missing [][]byte
	wanted := map[string]struct{}{}
	for i, k := range keys {
		if _, dup := out[string(k)]; dup {
			continue
		}
		if cacheable[i] {
			if v, ok := cache.get(string(k) + suffix); ok {
				out[string(k)] = v.([]widecolumn.Cell)
				continue
			}
		}
		out[string(k)] = nil
		missing = append(missing, k)
		wanted[string(k)] = struct{}{}
	}
	if len(missing) == 0 {
		return out, nil
	}
	err := s.read(ctx, widecolumn.ReadRequest{Keys: missing}, func(r widecolumn.Row) bool {
		out[string(r.Key)] = r.Cells
		return true
	})
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		if !cacheable[i] {
			continue
		}
		if _, fetched := wanted[string(k)]; !fetched {
			continue
		}
		cells := out[string(k)]
		size := 0
		for _, c := range cells {
			size += len(c.Column) + len(c.Value) + 48
		}
		cache.put(string(k)+suffix, cells, int64(size))
		delete(wanted, string(k))
	}
	return out, nil
}
