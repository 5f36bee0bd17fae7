package querier

import (
	"context"
	"slices"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// ExemplarQuerier returns an exemplar querier for ctx's tenant.
func (q *Queryable) ExemplarQuerier(ctx context.Context) (storage.ExemplarQuerier, error) {
	return &exemplarQuerier{q: q, ctx: ctx}, nil
}

// exemplarQuerier carries the request's context because
// storage.ExemplarQuerier.Select takes none.
type exemplarQuerier struct {
	q   *Queryable
	ctx context.Context
}

// Select fans QueryExemplars out and merges the answers: one result per
// series, its exemplars sorted by time, an exemplar that several replicas
// hold kept once.
func (eq *exemplarQuerier) Select(start, end int64, matcherSets ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	req := &ingesterpb.ExemplarQueryRequest{StartMs: start, EndMs: end}
	for _, ms := range matcherSets {
		if err := checkShard(ms); err != nil {
			return nil, err
		}
		pb, err := ingesterpb.FromLabelMatchers(ms)
		if err != nil {
			return nil, err
		}
		req.MatcherSets = append(req.MatcherSets, ingesterpb.MatcherSet{Matchers: pb})
	}
	results, err := eq.q.fanout(eq.ctx, "query_exemplars", func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
		resp, err := c.QueryExemplars(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.Series, nil
	})
	if err != nil {
		return nil, err
	}
	bySeries := map[string]*exemplar.QueryResult{}
	var b labels.ScratchBuilder
	for _, r := range results {
		for _, s := range r.([]ingesterpb.ExemplarSeries) {
			lset := ingesterpb.ToLabels(s.Labels)
			key := lset.String()
			res, ok := bySeries[key]
			if !ok {
				res = &exemplar.QueryResult{SeriesLabels: lset, Exemplars: []exemplar.Exemplar{}}
				bySeries[key] = res
			}
			for k := range s.Exemplars {
				res.Exemplars = append(res.Exemplars, s.Exemplars[k].ToExemplar(&b))
			}
		}
	}
	out := make([]exemplar.QueryResult, 0, len(bySeries))
	for _, res := range bySeries {
		slices.SortFunc(res.Exemplars, exemplar.Compare)
		res.Exemplars = slices.CompactFunc(res.Exemplars, func(a, b exemplar.Exemplar) bool { return a.Equals(b) })
		out = append(out, *res)
	}
	slices.SortFunc(out, func(a, b exemplar.QueryResult) int { return labels.Compare(a.SeriesLabels, b.SeriesLabels) })
	return out, nil
}
