package querier

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/queryshard"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Instances names the ingesters to read from. The ring implements it. It
// must be safe for concurrent use.
type Instances interface {
	// GetAll returns every instance that may hold data for op, with how
	// many of them may fail.
	GetAll(op ring.Operation) (ring.ReplicationSet, error)
}

// Clients hands out gRPC clients of ingesters by address. The client pool
// implements it. It must be safe for concurrent use; the clients stay owned
// by the pool. They must carry the context's tenant (the tenant gRPC client
// interceptors do).
type Clients interface {
	Get(addr string) (ingesterpb.IngesterClient, error)
}

// Queryable reads a tenant's data from the ingesters and, when one is
// configured, the chunk store, routing each read by its time range (see
// [Config.QueryIngestersWithin] and [Config.QueryStoreAfter]) and merging
// the chunks of one series from both into one [MergeChunks]. It implements
// [storage.SampleAndChunkQueryable] and [storage.ExemplarQueryable]; the
// tenant comes from the context of each call. It is safe for concurrent
// use.
type Queryable struct {
	instances Instances
	clients   Clients
	store     Store          // nil: ingesters only.
	local     *LocalIngester // nil: every ingester is read through QueryStream.
	limits    Limits         // nil: the querier enforces no per-query limit itself.
	cfg       Config         // Only the routing fields are used.
	now       func() time.Time
	metrics   *metrics
}

var (
	_ storage.SampleAndChunkQueryable = (*Queryable)(nil)
	_ storage.ExemplarQueryable       = (*Queryable)(nil)
	_ storage.Querier                 = (*rangeQuerier)(nil)
)

// Querier returns a querier over [mint, maxt] (milliseconds).
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &rangeQuerier{q: q, mint: mint, maxt: maxt}, nil
}

// ChunkQuerier returns a chunk querier over [mint, maxt], for remote read's
// streamed chunks. It re-encodes the merged samples, so replicas never
// reach the client twice.
func (q *Queryable) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	return &chunkQuerier{rangeQuerier{q: q, mint: mint, maxt: maxt}}, nil
}

// fanout calls f on every ingester of the read replication set and returns
// the answers of those that succeeded once enough have. Errors come back
// classified (see errors.go).
func (q *Queryable) fanout(ctx context.Context, op string, f func(context.Context, ingesterpb.IngesterClient) (any, error)) ([]any, error) {
	rs, err := q.readSet(ctx, op)
	if err != nil {
		return nil, err
	}
	return q.do(ctx, op, rs, f)
}

// readSet returns the ingesters a read of the tenant in ctx asks.
func (q *Queryable) readSet(ctx context.Context, op string) (ring.ReplicationSet, error) {
	if _, err := tenant.FromContext(ctx); err != nil {
		return ring.ReplicationSet{}, fmt.Errorf("%s: %w", op, err)
	}
	rs, err := q.instances.GetAll(ring.Read)
	if err != nil {
		return ring.ReplicationSet{}, &UnavailableError{Err: fmt.Errorf("%s: listing ingesters: %w", op, err)}
	}
	return rs, nil
}

// do calls f on every ingester of rs, as fanout says.
func (q *Queryable) do(ctx context.Context, op string, rs ring.ReplicationSet, f func(context.Context, ingesterpb.IngesterClient) (any, error)) ([]any, error) {
	res, err := rs.Do(ctx, func(ctx context.Context, inst *ringpb.InstanceDesc) (any, error) {
		start := time.Now()
		client, err := q.clients.Get(inst.Addr)
		var res any
		if err == nil {
			res, err = f(ctx, client)
		}
		q.metrics.ingesterRequestDuration.WithLabelValues(op, status.Code(err).String()).Observe(time.Since(start).Seconds())
		if err != nil {
			return nil, ingesterError(inst.Addr, err)
		}
		return res, nil
	})
	if err != nil {
		return nil, fanoutError(ctx, op, err)
	}
	return res, nil
}

// both runs ingesters and store (each when set) concurrently and returns
// the first error. A failure of either fails the read: never a partial
// result.
func both(ctx context.Context, ingesters, store func(context.Context) error) error {
	switch {
	case ingesters == nil && store == nil:
		return nil
	case store == nil:
		return ingesters(ctx)
	case ingesters == nil:
		return store(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return store(gctx) })
	g.Go(func() error { return ingesters(gctx) })
	return g.Wait()
}

// rangeQuerier is a [storage.Querier] over the ingesters and the store for
// one time range.
type rangeQuerier struct {
	q          *Queryable
	mint, maxt int64
	local      localReads
}

// seriesChunks is one series as read from one source, labels sorted.
type seriesChunks struct {
	lset   labels.Labels
	chunks []Chunk
}

// Select reads the ingesters and the store as the time routing says,
// merges each series' chunks across replicas and sources, and returns the
// series sorted by labels when sortSeries asks or the store is read too
// (the merge with the store walks both in order); the engine asks for no
// order, and sorting a few thousand series was 15% of an instant
// aggregation. With hints.Func "series" no chunks are read.
func (rq *rangeQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := rq.mint, rq.maxt
	seriesOnly := false
	if hints != nil {
		mint, maxt = hints.Start, hints.End
		seriesOnly = hints.Func == "series"
	}
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return storage.ErrSeriesSet(fmt.Errorf("select: %w", err))
	}
	if err := checkShard(matchers); err != nil {
		return storage.ErrSeriesSet(err)
	}
	p := rq.q.plan(mint, maxt)
	if p.ingesters && !p.store {
		if set, ok := rq.selectLocal(ctx, id, sortSeries, mint, maxt, seriesOnly, matchers); ok {
			return set
		}
	}
	var (
		fromIngesters         []seriesChunks
		fromStore             []chunk.Series
		readIngesters, readSt func(context.Context) error
	)
	if p.ingesters {
		readIngesters = func(ctx context.Context) error {
			var err error
			fromIngesters, err = rq.q.selectIngesters(ctx, mint, maxt, seriesOnly, sortSeries || p.store, matchers)
			return err
		}
	}
	if p.store {
		readSt = func(ctx context.Context) error {
			var err error
			fromStore, err = rq.q.selectStore(ctx, id, mint, p.storeMaxt, seriesOnly, matchers)
			return err
		}
	}
	if err := both(ctx, readIngesters, readSt); err != nil {
		return storage.ErrSeriesSet(err)
	}
	return &sliceSeriesSet{series: mergeSources(fromIngesters, fromStore, mint, maxt)}
}

// checkShard refuses a malformed __query_shard__ matcher before any
// ingester or the store is asked: the error is queryshard.ErrMalformed,
// which [statusCode] answers with 400. A well-formed one goes on to the
// ingesters and the store, which each select the shard's series by
// labels.StableHash (package queryshard).
func checkShard(ms []*labels.Matcher) error {
	_, _, err := queryshard.Split(ms)
	return err
}

// mergeSources merges the ingesters' series and the store's, both sorted by
// labels, into one sorted list; a series in both gets the chunks of both,
// deduplicated by timestamp in [MergeChunks].
func mergeSources(ing []seriesChunks, st []chunk.Series, mint, maxt int64) []storage.Series {
	out := make([]storage.Series, 0, max(len(ing), len(st)))
	storeChunks := func(cs []chunk.Chunk, into []Chunk) []Chunk {
		for _, c := range cs {
			into = append(into, Chunk(c))
		}
		return into
	}
	i, j := 0, 0
	for i < len(ing) || j < len(st) {
		c := 0
		switch {
		case i == len(ing):
			c = 1
		case j == len(st):
			c = -1
		default:
			c = labels.Compare(ing[i].lset, st[j].Labels)
		}
		switch {
		case c < 0:
			out = append(out, MergeChunks(ing[i].lset, ing[i].chunks, mint, maxt))
			i++
		case c > 0:
			out = append(out, MergeChunks(st[j].Labels, storeChunks(st[j].Chunks, make([]Chunk, 0, len(st[j].Chunks))), mint, maxt))
			j++
		default:
			out = append(out, MergeChunks(ing[i].lset, storeChunks(st[j].Chunks, ing[i].chunks), mint, maxt))
			i++
			j++
		}
	}
	return out
}

// LabelNames merges the label names of the ingesters and the store, as
// the time routing says.
func (rq *rangeQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if err := checkShard(matchers); err != nil {
		return nil, nil, err
	}
	pbMatchers, err := ingesterpb.FromLabelMatchers(matchers)
	if err != nil {
		return nil, nil, err
	}
	req := &ingesterpb.LabelNamesRequest{StartMs: rq.mint, EndMs: rq.maxt, Matchers: pbMatchers, Limit: hintLimit(hints)}
	out, err := rq.mergedLabels(ctx, "label_names", req.Limit,
		func(ctx context.Context, c ingesterpb.IngesterClient) ([]string, error) {
			resp, err := c.LabelNames(ctx, req)
			if err != nil {
				return nil, err
			}
			return resp.Names, nil
		},
		func(ctx context.Context, id tenant.ID, storeMaxt int64) ([]string, error) {
			return rq.q.storeLabelNames(ctx, id, rq.mint, storeMaxt, matchers)
		})
	return out, nil, err
}

// LabelValues merges the values of label name of the ingesters and the
// store, as the time routing says.
func (rq *rangeQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if err := checkShard(matchers); err != nil {
		return nil, nil, err
	}
	pbMatchers, err := ingesterpb.FromLabelMatchers(matchers)
	if err != nil {
		return nil, nil, err
	}
	req := &ingesterpb.LabelValuesRequest{Name: name, StartMs: rq.mint, EndMs: rq.maxt, Matchers: pbMatchers, Limit: hintLimit(hints)}
	out, err := rq.mergedLabels(ctx, "label_values", req.Limit,
		func(ctx context.Context, c ingesterpb.IngesterClient) ([]string, error) {
			resp, err := c.LabelValues(ctx, req)
			if err != nil {
				return nil, err
			}
			return resp.Values, nil
		},
		func(ctx context.Context, id tenant.ID, storeMaxt int64) ([]string, error) {
			return rq.q.storeLabelValues(ctx, id, name, rq.mint, storeMaxt, matchers)
		})
	return out, nil, err
}

// mergedLabels reads label names or values from the ingesters and the
// store in parallel, as the time routing says, and merges them sorted and
// distinct, at most limit (0 = no limit). Either source failing fails it.
func (rq *rangeQuerier) mergedLabels(ctx context.Context, op string, limit int64,
	fromIngester func(context.Context, ingesterpb.IngesterClient) ([]string, error),
	fromStore func(context.Context, tenant.ID, int64) ([]string, error),
) ([]string, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.ReplaceAll(op, "_", " "), err)
	}
	p := rq.q.plan(rq.mint, rq.maxt)
	var results []any
	var stored []string
	var readIngesters, readStore func(context.Context) error
	if p.ingesters {
		readIngesters = func(ctx context.Context) error {
			var err error
			results, err = rq.q.fanout(ctx, op, func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
				return fromIngester(ctx, c)
			})
			return err
		}
	}
	if p.store {
		readStore = func(ctx context.Context) error {
			var err error
			stored, err = fromStore(ctx, id, p.storeMaxt)
			return err
		}
	}
	if err := both(ctx, readIngesters, readStore); err != nil {
		return nil, err
	}
	return mergeStrings(append(results, stored), limit), nil
}

// Close ends the reads of the local ingester, if any; reads through
// QueryStream hold nothing between calls.
func (rq *rangeQuerier) Close() error { return rq.closeLocal() }

func hintLimit(hints *storage.LabelHints) int64 {
	if hints == nil || hints.Limit <= 0 {
		return 0
	}
	return int64(hints.Limit)
}

// mergeStrings returns the distinct strings of results (each a []string),
// sorted, at most limit of them when limit is positive.
func mergeStrings(results []any, limit int64) []string {
	var all []string
	for _, r := range results {
		all = append(all, r.([]string)...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if limit > 0 && int64(len(all)) > limit {
		all = all[:limit]
	}
	return all
}

// chunkQuerier serves remote read's streamed chunks from the merged series.
type chunkQuerier struct {
	rangeQuerier
}

func (cq *chunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.ChunkSeriesSet {
	return storage.NewSeriesSetToChunkSet(cq.rangeQuerier.Select(ctx, sortSeries, hints, matchers...))
}
