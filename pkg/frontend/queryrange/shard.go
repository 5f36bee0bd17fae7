package queryrange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"golang.org/x/sync/errgroup"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// errHistograms stops a sharded evaluation whose partial results hold
// native histograms: the JSON a querier answers with keeps a histogram's
// buckets but not its schema and spans, so the frontend cannot add two
// exactly. The query is answered unsharded instead.
var errHistograms = errors.New("partial results hold native histograms")

// sharder evaluates rewritten expressions over partial results.
type sharder struct {
	parser parser.Parser
	engine *promql.Engine
}

func newSharder(p parser.Parser, maxSamples int, logger *slog.Logger) *sharder {
	return &sharder{
		parser: p,
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:               logger,
			MaxSamples:           maxSamples,
			Timeout:              24 * time.Hour, // The querier's timeout bounds the sub-queries; merging is bounded by the context.
			LookbackDelta:        5 * time.Minute,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
			Parser:               p,
		}),
	}
}

func (s *sharder) close() error { return s.engine.Close() }

// shardMiddleware answers shardable queries by evaluating each shardable
// aggregation over N shards in parallel (through next) and merging them
// with the engine.
type shardMiddleware struct {
	next Handler
	m    *Middlewares
}

func (s *shardMiddleware) Do(ctx context.Context, r *Request) (*Response, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	total := s.m.tenantLimits(id).shards
	if total <= 1 {
		return s.next.Do(ctx, r)
	}
	expr, err := s.m.parser.ParseExpr(r.Query)
	if err != nil || analyse(expr).dependsOnRange {
		return s.next.Do(ctx, r)
	}
	mapping := mapShardable(expr)
	if mapping == nil {
		return s.next.Do(ctx, r)
	}
	resp, err := s.m.sharder.run(ctx, s.next, r, mapping, total)
	if errors.Is(err, errHistograms) {
		s.m.metrics.shardFallbacks.WithLabelValues(string(id), "native_histograms").Inc()
		return s.next.Do(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	s.m.metrics.shardedQueries.WithLabelValues(string(id)).Inc()
	s.m.metrics.shards.WithLabelValues(string(id)).Add(float64(mapping.subQueries(total)))
	statsOf(ctx).Shards.Add(int64(mapping.subQueries(total)))
	return resp, nil
}

func (s *sharder) run(ctx context.Context, next Handler, r *Request, mapping *shardMapping, total int) (*Response, error) {
	results := make([][]*Response, len(mapping.embedded))
	queries := make([][]string, len(mapping.embedded))
	for e, emb := range mapping.embedded {
		n := total
		if emb.unsharded {
			n = 1
		}
		results[e] = make([]*Response, n)
		queries[e] = make([]string, n)
		if emb.unsharded {
			queries[e][0] = emb.inner.String()
			continue
		}
		for i := range total {
			q, err := shardQuery(s.parser, emb.inner, i, total)
			if err != nil {
				return nil, err
			}
			queries[e][i] = q
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for e := range mapping.embedded {
		for i := range queries[e] {
			g.Go(func() error {
				resp, err := next.Do(gctx, r.WithQuery(queries[e][i]))
				if err != nil {
					return err
				}
				if hasHistograms(resp) {
					return errHistograms
				}
				results[e][i] = resp
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	q := &partialQueryable{series: make(map[string][]storage.Series, len(mapping.embedded))}
	var warnings, infos []string
	for e, emb := range mapping.embedded {
		var all []storage.Series
		for i, resp := range results[e] {
			warnings = appendUnique(warnings, resp.Warnings...)
			infos = appendUnique(infos, resp.Infos...)
			shard := ""
			if !emb.keepLabels {
				shard = strconv.Itoa(i)
			}
			series, err := partialSeries(resp, shard, r)
			if err != nil {
				return nil, err
			}
			all = append(all, series...)
		}
		q.series[strconv.Itoa(e)] = all
	}

	outer := mapping.outer.String()
	var (
		query promql.Query
		err   error
	)
	if r.IsRange() {
		query, err = s.engine.NewRangeQuery(ctx, q, nil, outer, time.UnixMilli(r.Start), time.UnixMilli(r.End), time.Duration(r.Step)*time.Millisecond)
	} else {
		query, err = s.engine.NewInstantQuery(ctx, q, nil, outer, time.UnixMilli(r.Start))
	}
	if err != nil {
		return nil, fmt.Errorf("preparing the merge of shards %q: %w", outer, err)
	}
	defer query.Close()
	res := query.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	resp, err := fromPromQL(res.Value)
	if err != nil {
		return nil, err
	}
	w, i := res.Warnings.AsStrings("", 0, 0)
	resp.Warnings = appendUnique(warnings, w...)
	resp.Infos = appendUnique(infos, i...)
	return resp, nil
}

func hasHistograms(r *Response) bool {
	for _, s := range r.Matrix {
		if len(s.Histograms) > 0 {
			return true
		}
	}
	for _, s := range r.Vector {
		if s.Histogram != nil {
			return true
		}
	}
	return false
}

// partialSeries turns one shard's answer into series for the engine:
// labelled with the shard when shard is not empty, and for a range query
// with a stale marker at each step right after one without a value, so the
// engine's lookback never carries a value into a step where the shard had
// none.
func partialSeries(resp *Response, shard string, r *Request) ([]storage.Series, error) {
	lset := func(m model.Metric) labels.Labels {
		b := labels.NewScratchBuilder(len(m) + 1)
		for k, v := range m {
			b.Add(string(k), string(v))
		}
		if shard != "" {
			b.Add(shardIndexLabel, shard)
		}
		b.Sort()
		return b.Labels()
	}
	var out []storage.Series
	switch resp.ResultType {
	case typeMatrix:
		stale := math.Float64frombits(value.StaleNaN)
		for _, ss := range resp.Matrix {
			pts := make([]promql.FPoint, 0, len(ss.Values)+1)
			for j, p := range ss.Values {
				t := int64(p.Timestamp)
				if j > 0 {
					if prev := int64(ss.Values[j-1].Timestamp); t > prev+r.Step {
						pts = append(pts, promql.FPoint{T: prev + r.Step, F: stale})
					}
				}
				pts = append(pts, promql.FPoint{T: t, F: float64(p.Value)})
			}
			if n := len(ss.Values); n > 0 {
				if last := int64(ss.Values[n-1].Timestamp); last+r.Step <= r.End {
					pts = append(pts, promql.FPoint{T: last + r.Step, F: stale})
				}
			}
			out = append(out, promql.NewStorageSeries(promql.Series{Metric: lset(ss.Metric), Floats: pts}))
		}
	case typeVector:
		for _, smp := range resp.Vector {
			out = append(out, promql.NewStorageSeries(promql.Series{Metric: lset(smp.Metric), Floats: []promql.FPoint{{T: int64(smp.Timestamp), F: float64(smp.Value)}}}))
		}
	default:
		return nil, fmt.Errorf("a shard answered a %s, not a vector or matrix", resp.ResultType)
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return out, nil
}

// partialQueryable serves the partial results to the engine: a selector of
// the embedded metric gets the series of the sub-expression it names.
type partialQueryable struct {
	series map[string][]storage.Series
}

func (q *partialQueryable) Querier(_, _ int64) (storage.Querier, error) { return q, nil }

func (q *partialQueryable) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	for _, m := range ms {
		if m.Name == embeddedLabel {
			return &listSeriesSet{series: q.series[m.Value], i: -1}
		}
	}
	return storage.EmptySeriesSet()
}

func (*partialQueryable) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*partialQueryable) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*partialQueryable) Close() error { return nil }

// fromPromQL converts an engine result to a response.
func fromPromQL(v parser.Value) (*Response, error) {
	metric := func(l labels.Labels) model.Metric {
		m := make(model.Metric, l.Len())
		l.Range(func(lb labels.Label) { m[model.LabelName(lb.Name)] = model.LabelValue(lb.Value) })
		return m
	}
	switch v := v.(type) {
	case promql.Matrix:
		out := &Response{ResultType: typeMatrix, Matrix: make([]*model.SampleStream, 0, len(v))}
		for _, s := range v {
			ss := &model.SampleStream{Metric: metric(s.Metric)}
			for _, p := range s.Floats {
				ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.F)})
			}
			for _, p := range s.Histograms {
				ss.Histograms = append(ss.Histograms, model.SampleHistogramPair{Timestamp: model.Time(p.T), Histogram: toModelHistogram(p.H)})
			}
			out.Matrix = append(out.Matrix, ss)
		}
		return out, nil
	case promql.Vector:
		out := &Response{ResultType: typeVector, Vector: make(model.Vector, 0, len(v))}
		for _, s := range v {
			smp := &model.Sample{Metric: metric(s.Metric), Timestamp: model.Time(s.T), Value: model.SampleValue(s.F)}
			if s.H != nil {
				smp.Histogram = toModelHistogram(s.H)
			}
			out.Vector = append(out.Vector, smp)
		}
		return out, nil
	case promql.Scalar:
		return &Response{ResultType: typeScalar, Scalar: &model.Scalar{Timestamp: model.Time(v.T), Value: model.SampleValue(v.V)}}, nil
	case promql.String:
		return &Response{ResultType: typeString, String: &model.String{Timestamp: model.Time(v.T), Value: v.V}}, nil
	}
	return nil, fmt.Errorf("unexpected result type %T", v)
}

// toModelHistogram writes a histogram's buckets as Prometheus's API does.
func toModelHistogram(h *histogram.FloatHistogram) *model.SampleHistogram {
	out := &model.SampleHistogram{Count: model.FloatString(h.Count), Sum: model.FloatString(h.Sum)}
	it := h.AllBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		out.Buckets = append(out.Buckets, &model.HistogramBucket{Boundaries: resultpb.Boundaries(b), Lower: model.FloatString(b.Lower), Upper: model.FloatString(b.Upper), Count: model.FloatString(b.Count)})
	}
	return out
}

type listSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *listSeriesSet) Next() bool                      { s.i++; return s.i < len(s.series) }
func (s *listSeriesSet) At() storage.Series              { return s.series[s.i] }
func (*listSeriesSet) Err() error                        { return nil }
func (*listSeriesSet) Warnings() annotations.Annotations { return nil }
