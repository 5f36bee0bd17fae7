package ingester

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// LocalQuerier reads the calling tenant's data in place for a querier in
// the same process (the all-in-one): [LocalQuerier.Select] answers what
// QueryStream would stream, but lazily, with the labels and chunk bytes
// the TSDB holds instead of copies packed into messages. It holds a read
// of the tenant's TSDB from [Ingester.QueryLocal] until
// [LocalQuerier.Close], which must be called once; it must not be used
// from several goroutines at once.
type LocalQuerier struct {
	i   *Ingester
	id  tenant.ID
	tdb *tenantDB // nil: the tenant has no data.
	q   storage.ChunkQuerier
}

// QueryLocal opens a [LocalQuerier] over [mint, maxt] for the tenant in
// ctx. Its errors, like those of the sets its Select returns, are gRPC
// status errors, as QueryStream's are.
func (i *Ingester) QueryLocal(ctx context.Context, mint, maxt int64) (*LocalQuerier, error) {
	id, tdb, err := i.readTenant(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	l := &LocalQuerier{i: i, id: id, tdb: tdb}
	if tdb == nil {
		return l, nil
	}
	if l.q, err = tdb.db.ChunkQuerier(mint, maxt); err != nil {
		releaseRead(tdb)
		return nil, toStatus(fmt.Errorf("opening chunk querier: %w", err))
	}
	return l, nil
}

// Select returns the series in [hints.Start, hints.End] that match, with
// their chunks whole, as QueryStream sends them (no chunk at all with
// hints.Func "series"); series without a chunk in the range are left out.
// Labels and chunk bytes stay valid until Close. The per-query series,
// chunk and chunk-byte limits apply to each Select as to one QueryStream
// call: going over one fails the set with a ResourceExhausted status.
func (l *LocalQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	if l.q == nil {
		return storage.EmptyChunkSeriesSet()
	}
	shard, ms, err := splitShard(ms)
	if err != nil {
		return storage.ErrChunkSeriesSet(toStatus(err))
	}
	if len(ms) == 0 {
		ms = []*labels.Matcher{matchAll}
	}
	h := &storage.SelectHints{Start: hints.Start, End: hints.End, DisableTrimming: true}
	skipChunks := hints.Func == "series"
	if skipChunks {
		h.Func = "series"
	}
	shardHints(h, shard)
	return &localSeriesSet{
		l:          l,
		ss:         l.q.Select(ctx, sortSeries, h, ms...),
		lim:        l.i.overrides.For(l.id),
		skipChunks: skipChunks,
	}
}

// Close ends the read.
func (l *LocalQuerier) Close() error {
	if l.tdb == nil {
		return nil
	}
	err := l.q.Close()
	releaseRead(l.tdb)
	l.tdb = nil
	return err
}

// localSeriesSet is a Select of a LocalQuerier: each series' chunk
// metadata is read when the series is reached (that is when the limits
// can be counted), into arrays shared by the series of the set.
type localSeriesSet struct {
	l          *LocalQuerier
	ss         storage.ChunkSeriesSet
	lim        *limits.Limits
	skipChunks bool
	it         chunks.Iterator
	metas      []chunks.Meta
	cur        *chunkMetaSeries
	nSeries    int
	nChunks    int
	nBytes     int
	done       bool
	err        error
}

func (s *localSeriesSet) Next() bool {
	if s.done {
		return false
	}
	for s.ss.Next() {
		cs := s.ss.At()
		var metas []chunks.Meta
		if !s.skipChunks {
			var err error
			if metas, err = s.chunksOf(cs); err != nil {
				return s.fail(err)
			}
			if len(metas) == 0 {
				continue // No chunk in range: not a result, as in QueryStream.
			}
		}
		s.nSeries++
		if s.lim.MaxSeriesPerQuery > 0 && s.nSeries > s.lim.MaxSeriesPerQuery {
			return s.fail(&QueryLimitError{Flag: "querier.max-series-per-query", What: "series", Limit: s.lim.MaxSeriesPerQuery, Tenant: s.l.id})
		}
		s.cur = &chunkMetaSeries{lset: cs.Labels(), metas: metas}
		return true
	}
	if err := s.ss.Err(); err != nil {
		return s.fail(fmt.Errorf("selecting series: %w", err))
	}
	s.finish()
	return false
}

// chunksOf reads the chunk metadata of cs, counting it against the limits.
// The slice is cut from s.metas, which is replaced by a larger array when
// full (slices already cut keep the old one).
func (s *localSeriesSet) chunksOf(cs storage.ChunkSeries) ([]chunks.Meta, error) {
	if cap(s.metas)-len(s.metas) < 8 {
		s.metas = make([]chunks.Meta, 0, max(2*cap(s.metas), 256))
	}
	start := len(s.metas)
	s.it = cs.Iterator(s.it)
	for s.it.Next() {
		meta := s.it.At()
		s.nChunks++
		s.nBytes += len(meta.Chunk.Bytes())
		if s.lim.MaxChunksPerQuery > 0 && s.nChunks > s.lim.MaxChunksPerQuery {
			return nil, &QueryLimitError{Flag: "querier.max-chunks-per-query", What: "chunks", Limit: s.lim.MaxChunksPerQuery, Tenant: s.l.id}
		}
		if s.lim.MaxChunkBytesPerQuery > 0 && s.nBytes > s.lim.MaxChunkBytesPerQuery {
			return nil, &QueryLimitError{Flag: "querier.max-chunk-bytes-per-query", What: "chunk bytes", Limit: s.lim.MaxChunkBytesPerQuery, Tenant: s.l.id}
		}
		s.metas = append(s.metas, meta)
	}
	if err := s.it.Err(); err != nil {
		return nil, fmt.Errorf("reading chunks: %w", err)
	}
	return s.metas[start:len(s.metas):len(s.metas)], nil
}

// fail ends the set with err, counted as QueryStream counts its errors.
func (s *localSeriesSet) fail(err error) bool {
	var qle *QueryLimitError
	if errors.As(err, &qle) {
		s.l.i.metrics.queryLimitHits.WithLabelValues(string(s.l.id), qle.Flag).Inc()
	}
	s.err = toStatus(err)
	s.finish()
	return false
}

func (s *localSeriesSet) finish() {
	if s.done {
		return
	}
	s.done = true
	s.cur = nil
	s.l.i.metrics.queriedSeries.Observe(float64(s.nSeries))
	s.l.i.metrics.queriedChunks.Observe(float64(s.nChunks))
}

func (s *localSeriesSet) At() storage.ChunkSeries { return s.cur }
func (s *localSeriesSet) Err() error              { return s.err }
func (s *localSeriesSet) Warnings() annotations.Annotations {
	return s.ss.Warnings()
}

// chunkMetaSeries is a series with its chunks already read.
type chunkMetaSeries struct {
	lset  labels.Labels
	metas []chunks.Meta
}

func (c *chunkMetaSeries) Labels() labels.Labels { return c.lset }

// Iterator replays the series' chunks, reusing it if it is a replay too.
func (c *chunkMetaSeries) Iterator(it chunks.Iterator) chunks.Iterator {
	m, ok := it.(*metaIterator)
	if !ok {
		m = &metaIterator{}
	}
	m.metas, m.i = c.metas, -1
	return m
}

// metaIterator replays a series' chunk metadata.
type metaIterator struct {
	metas []chunks.Meta
	i     int
}

func (m *metaIterator) Next() bool {
	m.i++
	return m.i < len(m.metas)
}

func (m *metaIterator) At() chunks.Meta { return m.metas[m.i] }
func (m *metaIterator) Err() error      { return nil }
