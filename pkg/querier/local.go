package querier

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// LocalIngester is the ingester of the querier's own process (the
// all-in-one). When it is the only ingester a read asks and the store is
// not read, the querier hands the engine its series lazily, with the
// chunks as the ingester's TSDB holds them: no QueryStream messages, no
// copy of labels or chunk bytes, no merge of replicas.
type LocalIngester struct {
	// Addr is the address the ingester registered in the ring.
	Addr string
	// Open starts a read of the tenant in ctx over [mint, maxt]. Errors,
	// its own and those of the sets its querier selects, are gRPC status
	// errors, as QueryStream's are. Must be safe for concurrent use.
	Open func(ctx context.Context, mint, maxt int64) (LocalChunkQuerier, error)
}

// LocalChunkQuerier is one read of a tenant's data in a [LocalIngester]:
// what QueryStream would answer for the same hints and matchers, each
// Select under the per-query limits of one QueryStream call. Labels and
// chunks stay valid until Close. Not safe for concurrent use.
type LocalChunkQuerier interface {
	Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.ChunkSeriesSet
	Close() error
}

// localReads are the reads of a rangeQuerier's local ingester, one per
// tenant (federation selects several tenants through one querier,
// concurrently), open until the querier closes.
type localReads struct {
	mu    sync.Mutex
	open  map[tenant.ID]*localRead
	close bool
}

// localRead is one tenant's read; mu serialises its Selects.
type localRead struct {
	mu sync.Mutex
	q  LocalChunkQuerier
}

// selectLocal answers Select from the local ingester, if the process has
// one and it is the only one the read asks. ok is false when the read
// must go through QueryStream.
func (rq *rangeQuerier) selectLocal(ctx context.Context, id tenant.ID, sortSeries bool, mint, maxt int64, seriesOnly bool, matchers []*labels.Matcher) (set storage.SeriesSet, ok bool) {
	local := rq.q.local
	if local == nil {
		return nil, false
	}
	rs, err := rq.q.readSet(ctx, "query_stream")
	if err != nil {
		return storage.ErrSeriesSet(err), true
	}
	if len(rs.Instances) != 1 || rs.Instances[0].Addr != local.Addr {
		return nil, false
	}
	r, err := rq.localRead(ctx, id)
	if err != nil {
		return storage.ErrSeriesSet(fanoutError(ctx, "query_stream", ingesterError(local.Addr, err))), true
	}
	hints := &storage.SelectHints{Start: mint, End: maxt}
	if seriesOnly {
		hints.Func = "series"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.q.Select(ctx, sortSeries, hints, matchers...)
	// The engine reads a Select's series before the next Select, and
	// Selects of one querier may run concurrently: each set is read here,
	// under the read's lock, into merged series (their chunks are not
	// copied), and the engine walks them afterwards.
	var (
		out   []storage.Series
		arena []Chunk
		it    chunks.Iterator
	)
	for cs.Next() {
		s := cs.At()
		start := len(arena)
		it = s.Iterator(it)
		for it.Next() {
			meta := it.At()
			arena = append(arena, Chunk{MinTime: meta.MinTime, MaxTime: meta.MaxTime, Encoding: meta.Chunk.Encoding(), Data: meta.Chunk.Bytes()})
		}
		if err := it.Err(); err != nil {
			return storage.ErrSeriesSet(fanoutError(ctx, "query_stream", ingesterError(local.Addr, err))), true
		}
		out = append(out, MergeChunks(s.Labels(), arena[start:len(arena):len(arena)], mint, maxt))
	}
	if err := cs.Err(); err != nil {
		return storage.ErrSeriesSet(fanoutError(ctx, "query_stream", ingesterError(local.Addr, err))), true
	}
	rq.q.metrics.fetchedSeries.Add(float64(len(out)))
	rq.q.metrics.fetchedChunks.Add(float64(len(arena)))
	return &sliceSeriesSet{series: out, warnings: cs.Warnings()}, true
}

// localRead returns the open read of tenant id, opening it on first use.
func (rq *rangeQuerier) localRead(ctx context.Context, id tenant.ID) (*localRead, error) {
	rq.local.mu.Lock()
	defer rq.local.mu.Unlock()
	if rq.local.close {
		return nil, errors.New("the querier is closed")
	}
	if r, ok := rq.local.open[id]; ok {
		return r, nil
	}
	q, err := rq.q.local.Open(ctx, rq.mint, rq.maxt)
	if err != nil {
		return nil, err
	}
	if rq.local.open == nil {
		rq.local.open = map[tenant.ID]*localRead{}
	}
	r := &localRead{q: q}
	rq.local.open[id] = r
	return r, nil
}

// closeLocal ends the querier's local reads.
func (rq *rangeQuerier) closeLocal() error {
	rq.local.mu.Lock()
	defer rq.local.mu.Unlock()
	rq.local.close = true
	var errs []error
	for id, r := range rq.local.open {
		r.mu.Lock()
		errs = append(errs, r.q.Close())
		r.mu.Unlock()
		delete(rq.local.open, id)
	}
	return errors.Join(errs...)
}
