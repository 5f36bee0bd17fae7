package querier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
	"google.golang.org/grpc/status"

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

// Queryable reads a tenant's recent data from the ingesters. It implements
// [storage.SampleAndChunkQueryable] and [storage.ExemplarQueryable]; the
// tenant comes from the context of each call. It is safe for concurrent
// use.
type Queryable struct {
	instances Instances
	clients   Clients
	metrics   *metrics
}

var (
	_ storage.SampleAndChunkQueryable = (*Queryable)(nil)
	_ storage.ExemplarQueryable       = (*Queryable)(nil)
	_ storage.Querier                 = (*ingesterQuerier)(nil)
)

// Querier returns a querier over [mint, maxt] (milliseconds).
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &ingesterQuerier{q: q, mint: mint, maxt: maxt}, nil
}

// ChunkQuerier returns a chunk querier over [mint, maxt], for remote read's
// streamed chunks. It re-encodes the merged samples, so replicas never
// reach the client twice.
func (q *Queryable) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	return &chunkQuerier{ingesterQuerier{q: q, mint: mint, maxt: maxt}}, nil
}

// fanout calls f on every ingester of the read replication set and returns
// the answers of those that succeeded once enough have. Errors come back
// classified (see errors.go).
func (q *Queryable) fanout(ctx context.Context, op string, f func(context.Context, ingesterpb.IngesterClient) (any, error)) ([]any, error) {
	if _, err := tenant.FromContext(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rs, err := q.instances.GetAll(ring.Read)
	if err != nil {
		return nil, &UnavailableError{Err: fmt.Errorf("%s: listing ingesters: %w", op, err)}
	}
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

// ingesterQuerier is a [storage.Querier] over the ingesters for one time
// range.
type ingesterQuerier struct {
	q          *Queryable
	mint, maxt int64
}

// Select fans QueryStream out, merges each series' chunks across replicas
// and returns the series sorted by labels (whatever sortSeries says: the
// merge sorts anyway).
func (iq *ingesterQuerier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := iq.mint, iq.maxt
	skipChunks := false
	if hints != nil {
		mint, maxt = hints.Start, hints.End
		skipChunks = hints.Func == "series"
	}
	pbMatchers, err := toProtoMatchers(matchers)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	req := &ingesterpb.QueryRequest{StartMs: mint, EndMs: maxt, Matchers: pbMatchers, SkipChunks: skipChunks}
	results, err := iq.q.fanout(ctx, "query_stream", func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
		return queryStream(ctx, c, req)
	})
	if err != nil {
		return storage.ErrSeriesSet(err)
	}

	type entry struct {
		lset   labels.Labels
		chunks []Chunk
	}
	bySeries := map[string]*entry{}
	var key strings.Builder
	var b labels.ScratchBuilder
	var nChunks, nBytes int
	for _, r := range results {
		for _, s := range r.([]ingesterpb.ChunkSeries) {
			key.Reset()
			for _, l := range s.Labels {
				key.WriteString(l.Name)
				key.WriteByte(0xff)
				key.WriteString(l.Value)
				key.WriteByte(0xff)
			}
			e, ok := bySeries[key.String()]
			if !ok {
				b.Reset()
				for _, l := range s.Labels {
					b.Add(l.Name, l.Value)
				}
				b.Sort()
				e = &entry{lset: b.Labels()}
				bySeries[key.String()] = e
			}
			for _, c := range s.Chunks {
				enc, err := chunkEncoding(c.Encoding)
				if err != nil {
					return storage.ErrSeriesSet(fmt.Errorf("series %s: %w", e.lset, err))
				}
				e.chunks = append(e.chunks, Chunk{MinTime: c.MinTimeMs, MaxTime: c.MaxTimeMs, Encoding: enc, Data: c.Data})
				nBytes += len(c.Data)
			}
			nChunks += len(s.Chunks)
		}
	}
	iq.q.metrics.fetchedSeries.Add(float64(len(bySeries)))
	iq.q.metrics.fetchedChunks.Add(float64(nChunks))
	iq.q.metrics.fetchedChunkBytes.Add(float64(nBytes))

	series := make([]storage.Series, 0, len(bySeries))
	for _, e := range bySeries {
		series = append(series, MergeChunks(e.lset, e.chunks, mint, maxt))
	}
	slices.SortFunc(series, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &sliceSeriesSet{series: series}
}

// queryStream reads one ingester's whole answer.
func queryStream(ctx context.Context, c ingesterpb.IngesterClient, req *ingesterpb.QueryRequest) ([]ingesterpb.ChunkSeries, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // Ends the stream on an early return.
	stream, err := c.QueryStream(ctx, req)
	if err != nil {
		return nil, err
	}
	var series []ingesterpb.ChunkSeries
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return series, nil
		}
		if err != nil {
			return nil, err
		}
		series = append(series, resp.Series...)
	}
}

func chunkEncoding(e ingesterpb.Chunk_Encoding) (chunkenc.Encoding, error) {
	switch e {
	case ingesterpb.Chunk_ENCODING_XOR:
		return chunkenc.EncXOR, nil
	case ingesterpb.Chunk_ENCODING_HISTOGRAM:
		return chunkenc.EncHistogram, nil
	case ingesterpb.Chunk_ENCODING_FLOAT_HISTOGRAM:
		return chunkenc.EncFloatHistogram, nil
	}
	return chunkenc.EncNone, fmt.Errorf("unknown chunk encoding %d", e)
}

// LabelNames fans LabelNames out and merges the answers.
func (iq *ingesterQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	pbMatchers, err := toProtoMatchers(matchers)
	if err != nil {
		return nil, nil, err
	}
	req := &ingesterpb.LabelNamesRequest{StartMs: iq.mint, EndMs: iq.maxt, Matchers: pbMatchers, Limit: hintLimit(hints)}
	results, err := iq.q.fanout(ctx, "label_names", func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
		resp, err := c.LabelNames(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.Names, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return mergeStrings(results, req.Limit), nil, nil
}

// LabelValues fans LabelValues out and merges the answers.
func (iq *ingesterQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	pbMatchers, err := toProtoMatchers(matchers)
	if err != nil {
		return nil, nil, err
	}
	req := &ingesterpb.LabelValuesRequest{Name: name, StartMs: iq.mint, EndMs: iq.maxt, Matchers: pbMatchers, Limit: hintLimit(hints)}
	results, err := iq.q.fanout(ctx, "label_values", func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
		resp, err := c.LabelValues(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.Values, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return mergeStrings(results, req.Limit), nil, nil
}

// Close does nothing: an ingester querier holds no resources between calls.
func (*ingesterQuerier) Close() error { return nil }

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

func toProtoMatchers(ms []*labels.Matcher) ([]ingesterpb.LabelMatcher, error) {
	out := make([]ingesterpb.LabelMatcher, 0, len(ms))
	for _, m := range ms {
		var t ingesterpb.LabelMatcher_Type
		switch m.Type {
		case labels.MatchEqual:
			t = ingesterpb.LabelMatcher_TYPE_EQ
		case labels.MatchNotEqual:
			t = ingesterpb.LabelMatcher_TYPE_NEQ
		case labels.MatchRegexp:
			t = ingesterpb.LabelMatcher_TYPE_RE
		case labels.MatchNotRegexp:
			t = ingesterpb.LabelMatcher_TYPE_NRE
		default:
			return nil, fmt.Errorf("unknown matcher type %d", m.Type)
		}
		out = append(out, ingesterpb.LabelMatcher{Type: t, Name: m.Name, Value: m.Value})
	}
	return out, nil
}

// chunkQuerier serves remote read's streamed chunks from the merged series.
type chunkQuerier struct {
	ingesterQuerier
}

func (cq *chunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.ChunkSeriesSet {
	return storage.NewSeriesSetToChunkSet(cq.ingesterQuerier.Select(ctx, sortSeries, hints, matchers...))
}
