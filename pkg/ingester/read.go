package ingester

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/hearthmetrics/hearth/pkg/queryshard"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// queryStreamBatchSize is how many series one QueryStream message carries:
// large enough to amortise a message, small enough to keep one well under
// the gRPC message-size limit with long chunks.
const queryStreamBatchSize = 128

// QueryStream streams the tenant's series that match, in batches, with their
// chunks as stored (compressed bytes, not decoded samples). The in-memory
// head chunk is copied under the series lock, so appends may go on. The
// per-query series, chunk and byte limits are enforced here; going over one
// fails the stream with ResourceExhausted.
func (i *Ingester) QueryStream(req *ingesterpb.QueryRequest, stream ingesterpb.Ingester_QueryStreamServer) error {
	ctx := stream.Context()
	id, tdb, err := i.readTenant(ctx)
	if err != nil {
		return toStatus(err)
	}
	if tdb == nil {
		return nil
	}
	defer releaseRead(tdb)
	series, chunkCount, err := i.queryStream(ctx, id, tdb, req, stream)
	i.metrics.queriedSeries.Observe(float64(series))
	i.metrics.queriedChunks.Observe(float64(chunkCount))
	var qle *QueryLimitError
	if errors.As(err, &qle) {
		i.metrics.queryLimitHits.WithLabelValues(string(id), qle.Flag).Inc()
	}
	return toStatus(err)
}

func (i *Ingester) queryStream(ctx context.Context, id tenant.ID, tdb *tenantDB, req *ingesterpb.QueryRequest, stream ingesterpb.Ingester_QueryStreamServer) (int, int, error) {
	shard, matchers, err := selectMatchers(req.Matchers)
	if err != nil {
		return 0, 0, err
	}
	q, err := tdb.db.ChunkQuerier(req.StartMs, req.EndMs)
	if err != nil {
		return 0, 0, fmt.Errorf("opening chunk querier: %w", err)
	}
	defer q.Close()

	// Chunks go out whole: trimming them to the range would re-encode every
	// edge chunk (CPU, and a lost counter-reset hint). The querier trims.
	hints := &storage.SelectHints{Start: req.StartMs, End: req.EndMs, DisableTrimming: true}
	if req.SkipChunks {
		hints.Func = "series"
	}
	shardHints(hints, shard)
	lim := i.overrides.For(id)
	var (
		nSeries, nChunks, nBytes int
		it                       chunks.Iterator
		batch                    = newWireBatch(nil)
	)
	ss := q.Select(ctx, false, hints, matchers...)
	for ss.Next() {
		s := ss.At()
		mark := batch.mark()
		cs := ingesterpb.ChunkSeries{Labels: batch.labels(s.Labels())}
		if !req.SkipChunks {
			it = s.Iterator(it)
			for it.Next() {
				meta := it.At()
				enc, err := ingesterpb.FromChunkEncoding(meta.Chunk.Encoding())
				if err != nil {
					return nSeries, nChunks, err
				}
				nChunks++
				nBytes += len(meta.Chunk.Bytes())
				if lim.MaxChunksPerQuery > 0 && nChunks > lim.MaxChunksPerQuery {
					return nSeries, nChunks, &QueryLimitError{Flag: "querier.max-chunks-per-query", What: "chunks", Limit: lim.MaxChunksPerQuery, Tenant: id}
				}
				if lim.MaxChunkBytesPerQuery > 0 && nBytes > lim.MaxChunkBytesPerQuery {
					return nSeries, nChunks, &QueryLimitError{Flag: "querier.max-chunk-bytes-per-query", What: "chunk bytes", Limit: lim.MaxChunkBytesPerQuery, Tenant: id}
				}
				batch.addChunk(meta, enc)
			}
			if err := it.Err(); err != nil {
				return nSeries, nChunks, fmt.Errorf("reading chunks: %w", err)
			}
			if cs.Chunks = batch.chunksSince(mark); len(cs.Chunks) == 0 {
				batch.reset(mark) // No chunk in range: not a result.
				continue
			}
		}
		nSeries++
		if lim.MaxSeriesPerQuery > 0 && nSeries > lim.MaxSeriesPerQuery {
			return nSeries, nChunks, &QueryLimitError{Flag: "querier.max-series-per-query", What: "series", Limit: lim.MaxSeriesPerQuery, Tenant: id}
		}
		batch.series = append(batch.series, cs)
		if len(batch.series) == queryStreamBatchSize {
			if err := stream.Send(&ingesterpb.QueryStreamResponse{Series: batch.series}); err != nil {
				return nSeries, nChunks, fmt.Errorf("sending series: %w", err)
			}
			// gRPC may still hold the sent message: start a new batch.
			batch = newWireBatch(batch)
		}
	}
	if err := ss.Err(); err != nil {
		return nSeries, nChunks, fmt.Errorf("selecting series: %w", err)
	}
	if len(batch.series) > 0 {
		if err := stream.Send(&ingesterpb.QueryStreamResponse{Series: batch.series}); err != nil {
			return nSeries, nChunks, fmt.Errorf("sending series: %w", err)
		}
	}
	return nSeries, nChunks, nil
}

// wireBatch is one QueryStream message being built. The labels, chunks
// and chunk bytes of its series are slices of three arrays that grow as
// series are added (a slice keeps the array it was cut from when the next
// append moves on to a bigger one): a few allocations per message, not a
// few per series. Chunk bytes are copied because bytes of chunks on disk
// are valid only while the querier is open.
type wireBatch struct {
	series []ingesterpb.ChunkSeries
	pairs  []ingesterpb.LabelPair
	chunks []ingesterpb.Chunk
	data   []byte
}

// newWireBatch returns an empty batch sized like prev, the batch before
// it, if any: series of one query tend to look alike.
func newWireBatch(prev *wireBatch) *wireBatch {
	pairs, chunks, data := 4*queryStreamBatchSize, queryStreamBatchSize, 128*queryStreamBatchSize
	if prev != nil {
		pairs, chunks, data = len(prev.pairs)+len(prev.pairs)/8, len(prev.chunks)+len(prev.chunks)/8, len(prev.data)+len(prev.data)/8
	}
	return &wireBatch{
		series: make([]ingesterpb.ChunkSeries, 0, queryStreamBatchSize),
		pairs:  make([]ingesterpb.LabelPair, 0, pairs),
		chunks: make([]ingesterpb.Chunk, 0, chunks),
		data:   make([]byte, 0, data),
	}
}

// batchMark is where a series starts in a batch's arrays.
type batchMark struct{ pairs, chunks, data int }

func (b *wireBatch) mark() batchMark { return batchMark{len(b.pairs), len(b.chunks), len(b.data)} }

// reset drops what was added since m.
func (b *wireBatch) reset(m batchMark) {
	b.pairs, b.chunks, b.data = b.pairs[:m.pairs], b.chunks[:m.chunks], b.data[:m.data]
}

func (b *wireBatch) labels(lset labels.Labels) []ingesterpb.LabelPair {
	start := len(b.pairs)
	b.pairs = ingesterpb.AppendLabelPairs(b.pairs, lset)
	return b.pairs[start:len(b.pairs):len(b.pairs)]
}

func (b *wireBatch) addChunk(meta chunks.Meta, enc ingesterpb.Chunk_Encoding) {
	start := len(b.data)
	b.data = append(b.data, meta.Chunk.Bytes()...)
	b.chunks = append(b.chunks, ingesterpb.Chunk{
		MinTimeMs: meta.MinTime,
		MaxTimeMs: meta.MaxTime,
		Encoding:  enc,
		Data:      b.data[start:len(b.data):len(b.data)],
	})
}

// chunksSince returns the chunks added since m.
func (b *wireBatch) chunksSince(m batchMark) []ingesterpb.Chunk {
	return b.chunks[m.chunks:len(b.chunks):len(b.chunks)]
}

// LabelNames returns the tenant's label names in [start, end], restricted
// to series that match, sorted, at most limit (0 = no limit).
func (i *Ingester) LabelNames(ctx context.Context, req *ingesterpb.LabelNamesRequest) (*ingesterpb.LabelNamesResponse, error) {
	names, err := i.labelQuery(ctx, req.StartMs, req.EndMs, req.Matchers, req.Limit, "label names",
		func(q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
			return q.LabelNames(ctx, hints, ms...)
		})
	return &ingesterpb.LabelNamesResponse{Names: names}, err
}

// LabelValues returns the values of one label name in [start, end],
// restricted to series that match, sorted, at most limit (0 = no limit).
func (i *Ingester) LabelValues(ctx context.Context, req *ingesterpb.LabelValuesRequest) (*ingesterpb.LabelValuesResponse, error) {
	values, err := i.labelQuery(ctx, req.StartMs, req.EndMs, req.Matchers, req.Limit, "label values",
		func(q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
			return q.LabelValues(ctx, req.Name, hints, ms...)
		})
	return &ingesterpb.LabelValuesResponse{Values: values}, err
}

// labelQuery runs read (label names or values) on a querier of the
// calling tenant over [start, end]; a tenant with no data gets nothing.
// The error is already a gRPC status.
func (i *Ingester) labelQuery(ctx context.Context, start, end int64, wire []ingesterpb.LabelMatcher, limit int64, what string,
	read func(storage.Querier, *storage.LabelHints, []*labels.Matcher) ([]string, annotations.Annotations, error),
) ([]string, error) {
	_, tdb, err := i.readTenant(ctx)
	if err != nil || tdb == nil {
		return nil, toStatus(err)
	}
	defer releaseRead(tdb)
	matchers, err := toMatchers(wire)
	if err != nil {
		return nil, toStatus(err)
	}
	shard, matchers, err := splitShard(matchers)
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := tdb.db.Querier(start, end)
	if err != nil {
		return nil, toStatus(fmt.Errorf("opening querier: %w", err))
	}
	defer q.Close()
	if shard != nil {
		// The TSDB's label queries know no shards: read the shard's
		// series through a sharded Select instead.
		if len(matchers) == 0 {
			matchers = []*labels.Matcher{matchAll}
		}
		q = &shardedLabels{Querier: q, hints: &storage.SelectHints{Start: start, End: end, Func: "series", ShardIndex: shard.Index, ShardCount: shard.Count}}
	}
	out, _, err := read(q, &storage.LabelHints{Limit: int(limit)}, matchers)
	if err != nil {
		return nil, toStatus(fmt.Errorf("reading %s: %w", what, err))
	}
	return truncate(out, limit), nil
}

// Series returns the label sets of the series in [start, end] that match
// any of the matcher sets, sorted, at most limit (0 = no limit).
func (i *Ingester) Series(ctx context.Context, req *ingesterpb.SeriesRequest) (*ingesterpb.SeriesResponse, error) {
	_, tdb, err := i.readTenant(ctx)
	if err != nil || tdb == nil {
		return &ingesterpb.SeriesResponse{}, toStatus(err)
	}
	defer releaseRead(tdb)
	sets := make([][]*labels.Matcher, 0, len(req.MatcherSets))
	shards := make([]*queryshard.Shard, 0, len(req.MatcherSets))
	for _, ms := range req.MatcherSets {
		shard, m, err := selectMatchers(ms.Matchers)
		if err != nil {
			return nil, toStatus(err)
		}
		sets = append(sets, m)
		shards = append(shards, shard)
	}
	if len(sets) == 0 {
		sets = append(sets, []*labels.Matcher{matchAll})
		shards = append(shards, nil)
	}
	q, err := tdb.db.Querier(req.StartMs, req.EndMs)
	if err != nil {
		return nil, toStatus(fmt.Errorf("opening querier: %w", err))
	}
	defer q.Close()
	hintsOf := func(shard *queryshard.Shard) *storage.SelectHints {
		h := &storage.SelectHints{Start: req.StartMs, End: req.EndMs, Func: "series", Limit: int(req.Limit)}
		shardHints(h, shard)
		return h
	}
	var ss storage.SeriesSet
	if len(sets) == 1 {
		ss = q.Select(ctx, true, hintsOf(shards[0]), sets[0]...)
	} else {
		selected := make([]storage.SeriesSet, 0, len(sets))
		for k, ms := range sets {
			selected = append(selected, q.Select(ctx, true, hintsOf(shards[k]), ms...))
		}
		ss = storage.NewMergeSeriesSet(selected, 0, storage.ChainedSeriesMerge)
	}
	resp := &ingesterpb.SeriesResponse{}
	for ss.Next() {
		if req.Limit > 0 && int64(len(resp.Series)) >= req.Limit {
			break
		}
		resp.Series = append(resp.Series, ingesterpb.LabelSet{Labels: ingesterpb.FromLabels(ss.At().Labels())})
	}
	if err := ss.Err(); err != nil {
		return nil, toStatus(fmt.Errorf("selecting series: %w", err))
	}
	return resp, nil
}

// MetricMetadata returns the tenant's metric metadata.
func (i *Ingester) MetricMetadata(ctx context.Context, req *ingesterpb.MetricMetadataRequest) (*ingesterpb.MetricMetadataResponse, error) {
	_, tdb, err := i.readTenant(ctx)
	if err != nil || tdb == nil {
		return &ingesterpb.MetricMetadataResponse{}, toStatus(err)
	}
	defer releaseRead(tdb)
	return &ingesterpb.MetricMetadataResponse{Metadata: tdb.metadata.list(req.Metric, int(req.Limit), int(req.LimitPerMetric))}, nil
}

// QueryExemplars returns the exemplars in [start, end] of the series that
// match any of the matcher sets.
func (i *Ingester) QueryExemplars(ctx context.Context, req *ingesterpb.ExemplarQueryRequest) (*ingesterpb.ExemplarQueryResponse, error) {
	_, tdb, err := i.readTenant(ctx)
	if err != nil || tdb == nil {
		return &ingesterpb.ExemplarQueryResponse{}, toStatus(err)
	}
	defer releaseRead(tdb)
	sets := make([][]*labels.Matcher, 0, len(req.MatcherSets))
	shards := make([]*queryshard.Shard, 0, len(req.MatcherSets))
	for _, ms := range req.MatcherSets {
		m, err := toMatchers(ms.Matchers)
		if err == nil {
			var shard *queryshard.Shard
			shard, m, err = splitShard(m)
			shards = append(shards, shard)
		}
		if err != nil {
			return nil, toStatus(err)
		}
		sets = append(sets, m)
	}
	eq, err := tdb.db.ExemplarQuerier(ctx)
	if err != nil {
		return nil, toStatus(fmt.Errorf("opening exemplar querier: %w", err))
	}
	results, err := eq.Select(req.StartMs, req.EndMs, sets...)
	if err != nil {
		return nil, toStatus(fmt.Errorf("selecting exemplars: %w", err))
	}
	results = exemplarsInShards(results, sets, shards)
	resp := &ingesterpb.ExemplarQueryResponse{Series: make([]ingesterpb.ExemplarSeries, 0, len(results))}
	for _, r := range results {
		es := ingesterpb.ExemplarSeries{Labels: ingesterpb.FromLabels(r.SeriesLabels), Exemplars: make([]ingesterpb.Exemplar, 0, len(r.Exemplars))}
		for k := range r.Exemplars {
			es.Exemplars = append(es.Exemplars, ingesterpb.FromExemplar(&r.Exemplars[k]))
		}
		resp.Series = append(resp.Series, es)
	}
	return resp, nil
}

// TenantStats reports the calling tenant's in-memory series and ingestion
// rates.
func (i *Ingester) TenantStats(ctx context.Context, _ *ingesterpb.TenantStatsRequest) (*ingesterpb.TenantStatsResponse, error) {
	_, tdb, err := i.readTenant(ctx)
	if err != nil || tdb == nil {
		return &ingesterpb.TenantStatsResponse{}, toStatus(err)
	}
	defer releaseRead(tdb)
	return &ingesterpb.TenantStatsResponse{Stats: tdb.stats()}, nil
}

// AllTenantStats reports every open tenant's stats, sorted by tenant. It
// needs no tenant in the context.
func (i *Ingester) AllTenantStats(context.Context, *ingesterpb.AllTenantStatsRequest) (*ingesterpb.AllTenantStatsResponse, error) {
	if err := i.checkRunning(); err != nil {
		return nil, toStatus(err)
	}
	tenants := i.dbs.snapshot()
	resp := &ingesterpb.AllTenantStatsResponse{Tenants: make([]ingesterpb.TenantStatsEntry, 0, len(tenants))}
	for _, t := range tenants {
		resp.Tenants = append(resp.Tenants, ingesterpb.TenantStatsEntry{Tenant: string(t.id), Stats: t.stats()})
	}
	slices.SortFunc(resp.Tenants, func(a, b ingesterpb.TenantStatsEntry) int { return strings.Compare(a.Tenant, b.Tenant) })
	return resp, nil
}

func (t *tenantDB) stats() ingesterpb.TenantStats {
	api, rule := t.apiRate.value(), t.ruleRate.value()
	return ingesterpb.TenantStats{
		NumSeries:         uint64(max(t.limiter.series(), 0)),
		IngestionRate:     api + rule,
		ApiIngestionRate:  api,
		RuleIngestionRate: rule,
	}
}

// toMatchers converts wire matchers; a bad one is an invalid argument.
func toMatchers(in []ingesterpb.LabelMatcher) ([]*labels.Matcher, error) {
	out, err := ingesterpb.ToLabelMatchers(in)
	if err != nil {
		return nil, invalidArgumentError{err}
	}
	return out, nil
}

// selectMatchers is toMatchers for Select, which needs at least one
// matcher: none means every series. The query shard matcher, if any, is
// taken out and returned apart (see [shardHints]).
func selectMatchers(in []ingesterpb.LabelMatcher) (*queryshard.Shard, []*labels.Matcher, error) {
	out, err := toMatchers(in)
	if err != nil {
		return nil, nil, err
	}
	shard, out, err := splitShard(out)
	if err != nil {
		return nil, nil, err
	}
	if len(out) == 0 {
		out = append(out, matchAll)
	}
	return shard, out, nil
}

// splitShard takes the query shard matcher out of ms; a malformed one is
// an invalid argument.
func splitShard(ms []*labels.Matcher) (*queryshard.Shard, []*labels.Matcher, error) {
	shard, rest, err := queryshard.Split(ms)
	if err != nil {
		return nil, nil, invalidArgumentError{err}
	}
	return shard, rest, nil
}

// shardHints asks the TSDB for one shard of the series, if shard is set:
// the head and the blocks select by labels.StableHash, the hash of
// package queryshard.
func shardHints(h *storage.SelectHints, shard *queryshard.Shard) {
	if shard != nil {
		h.ShardIndex, h.ShardCount = shard.Index, shard.Count
	}
}

// shardedLabels answers label names and values from the series of one
// shard, which the TSDB's label queries cannot select.
type shardedLabels struct {
	storage.Querier
	hints *storage.SelectHints
}

func (s *shardedLabels) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return s.collect(ctx, ms, func(ls labels.Labels, into map[string]struct{}) {
		ls.Range(func(l labels.Label) { into[l.Name] = struct{}{} })
	})
}

func (s *shardedLabels) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return s.collect(ctx, ms, func(ls labels.Labels, into map[string]struct{}) {
		if v := ls.Get(name); v != "" {
			into[v] = struct{}{}
		}
	})
}

func (s *shardedLabels) collect(ctx context.Context, ms []*labels.Matcher, add func(labels.Labels, map[string]struct{})) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	ss := s.Select(ctx, false, s.hints, ms...)
	for ss.Next() {
		add(ss.At().Labels(), seen)
	}
	if err := ss.Err(); err != nil {
		return nil, nil, err
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil, nil
}

// exemplarsInShards keeps the exemplar series that some matcher set
// without a shard, or with a shard holding the series, selects (the
// exemplar storage knows no shards).
func exemplarsInShards(results []exemplar.QueryResult, sets [][]*labels.Matcher, shards []*queryshard.Shard) []exemplar.QueryResult {
	if !slices.ContainsFunc(shards, func(s *queryshard.Shard) bool { return s != nil }) {
		return results
	}
	kept := results[:0]
	for _, r := range results {
		for k, ms := range sets {
			if (shards[k] == nil || shards[k].Contains(r.SeriesLabels)) && matchesAll(r.SeriesLabels, ms) {
				kept = append(kept, r)
				break
			}
		}
	}
	return kept
}

func matchesAll(ls labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// matchAll matches every series (every series has a name).
var matchAll = labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+")

func truncate(s []string, limit int64) []string {
	if limit > 0 && int64(len(s)) > limit {
		return s[:limit]
	}
	return s
}
