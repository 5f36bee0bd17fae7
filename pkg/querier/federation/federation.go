// Package federation answers reads that span several tenants (tenant
// federation, -tenant-federation.enabled): a request whose context carries
// a federated tenant ID ("a|b", see tenant.ParseFederated) is read as one
// request per tenant, each in that tenant's own context (so its own limits
// apply to what it fetches), and the answers are merged with every series
// labelled __tenant_id__="<tenant>". A matcher on __tenant_id__ selects
// the tenants read. A request of one tenant goes straight to the wrapped
// queryable.
//
// As in Cortex and Mimir, a series that already has a __tenant_id__ label
// keeps its value as original___tenant_id__.
package federation

import (
	"context"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Label names the tenant of each series of a federated answer.
const Label = "__tenant_id__"

// originalLabel keeps the value of a series' own __tenant_id__ label.
const originalLabel = "original_" + Label

// maxParallel bounds the tenants read at once for one select.
const maxParallel = 16

// Queryable is a storage.SampleAndChunkQueryable over inner that answers
// federated requests tenant by tenant.
type Queryable struct {
	inner storage.SampleAndChunkQueryable
}

// NewQueryable wraps inner.
func NewQueryable(inner storage.SampleAndChunkQueryable) *Queryable {
	return &Queryable{inner: inner}
}

var (
	_ storage.SampleAndChunkQueryable = (*Queryable)(nil)
	_ storage.Querier                 = (*querier)(nil)
	_ storage.ChunkQuerier            = (*chunkQuerier)(nil)
)

// Querier returns a querier over [mint, maxt].
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	in, err := q.inner.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &querier{inner: in}, nil
}

// ChunkQuerier returns a chunk querier over [mint, maxt].
func (q *Queryable) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	in, err := q.inner.ChunkQuerier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &chunkQuerier{inner: in}, nil
}

// Tenants splits matchers into the tenants of ctx's federated ID that the
// __tenant_id__ matchers select and the other matchers. federated is false
// for a request of one tenant (then tenants is nil and rest is matchers).
func Tenants(ctx context.Context, matchers []*labels.Matcher) (tenants []tenant.ID, rest []*labels.Matcher, federated bool, err error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	if !id.Federated() {
		return nil, matchers, false, nil
	}
	var on []*labels.Matcher
	for _, m := range matchers {
		if m.Name == Label {
			on = append(on, m)
		} else {
			rest = append(rest, m)
		}
	}
	for _, t := range id.Tenants() {
		if matchesAll(on, string(t)) {
			tenants = append(tenants, t)
		}
	}
	return tenants, rest, true, nil
}

func matchesAll(ms []*labels.Matcher, v string) bool {
	for _, m := range ms {
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// forEach calls f for every tenant, at most maxParallel at once, each with
// a context of that tenant alone, and returns the results in tenant order.
func forEach[R any](ctx context.Context, tenants []tenant.ID, f func(context.Context, tenant.ID) R) []R {
	out := make([]R, len(tenants))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, t := range tenants {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = f(tenant.WithID(ctx, t), t)
		}()
	}
	wg.Wait()
	return out
}

// withTenant returns lset with __tenant_id__ set to t (a value of its own
// moved to original___tenant_id__), and whether it had one.
func withTenant(lset labels.Labels, t tenant.ID) (labels.Labels, bool) {
	b := labels.NewBuilder(lset)
	own := lset.Get(Label)
	if own != "" {
		b.Set(originalLabel, own)
	}
	b.Set(Label, string(t))
	return b.Labels(), own != ""
}

type querier struct {
	inner storage.Querier
}

// Select reads each selected tenant and merges the answers. Each tenant's
// series are already in label order; labelling them all with the same
// __tenant_id__ keeps that order, so a sorted request merges sorted sets.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	tenants, rest, federated, err := Tenants(ctx, matchers)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	if !federated {
		return q.inner.Select(ctx, sortSeries, hints, matchers...)
	}
	sets := forEach(ctx, tenants, func(ctx context.Context, t tenant.ID) storage.SeriesSet {
		return &labelledSeriesSet{SeriesSet: q.inner.Select(ctx, sortSeries, hints, rest...), tenant: t, sorted: sortSeries}
	})
	if len(sets) == 0 {
		return storage.EmptySeriesSet()
	}
	if !sortSeries {
		return concatSeriesSet(sets)
	}
	return storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
}

func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return labelValues(ctx, name, hints, matchers, q.inner.LabelValues)
}

func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return labelNames(ctx, hints, matchers, q.inner.LabelNames)
}

func (q *querier) Close() error { return q.inner.Close() }

type chunkQuerier struct {
	inner storage.ChunkQuerier
}

func (q *chunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.ChunkSeriesSet {
	tenants, rest, federated, err := Tenants(ctx, matchers)
	if err != nil {
		return storage.ErrChunkSeriesSet(err)
	}
	if !federated {
		return q.inner.Select(ctx, sortSeries, hints, matchers...)
	}
	sets := forEach(ctx, tenants, func(ctx context.Context, t tenant.ID) storage.ChunkSeriesSet {
		return &labelledChunkSeriesSet{ChunkSeriesSet: q.inner.Select(ctx, sortSeries, hints, rest...), tenant: t}
	})
	return storage.NewMergeChunkSeriesSet(sets, 0, storage.NewConcatenatingChunkSeriesMerger())
}

func (q *chunkQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return labelValues(ctx, name, hints, matchers, q.inner.LabelValues)
}

func (q *chunkQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return labelNames(ctx, hints, matchers, q.inner.LabelNames)
}

func (q *chunkQuerier) Close() error { return q.inner.Close() }

type stringsResult struct {
	vals  []string
	annos annotations.Annotations
	err   error
}

func labelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers []*labels.Matcher,
	inner func(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error),
) ([]string, annotations.Annotations, error) {
	tenants, rest, federated, err := Tenants(ctx, matchers)
	if err != nil {
		return nil, nil, err
	}
	if !federated {
		return inner(ctx, name, hints, matchers...)
	}
	if name == Label {
		out := make([]string, len(tenants))
		for i, t := range tenants {
			out[i] = string(t)
		}
		return limited(out, hints), nil, nil
	}
	return mergeStrings(forEach(ctx, tenants, func(ctx context.Context, _ tenant.ID) stringsResult {
		v, a, err := inner(ctx, name, hints, rest...)
		return stringsResult{v, a, err}
	}), nil, hints)
}

func labelNames(ctx context.Context, hints *storage.LabelHints, matchers []*labels.Matcher,
	inner func(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error),
) ([]string, annotations.Annotations, error) {
	tenants, rest, federated, err := Tenants(ctx, matchers)
	if err != nil {
		return nil, nil, err
	}
	if !federated {
		return inner(ctx, hints, matchers...)
	}
	if len(tenants) == 0 {
		return nil, nil, nil
	}
	return mergeStrings(forEach(ctx, tenants, func(ctx context.Context, _ tenant.ID) stringsResult {
		v, a, err := inner(ctx, hints, rest...)
		return stringsResult{v, a, err}
	}), []string{Label}, hints)
}

// mergeStrings unions the tenants' sorted answers and extra, sorted and
// without repeats, and cut to the hints' limit. Any tenant's error fails
// the whole: a partial answer would look complete.
func mergeStrings(results []stringsResult, extra []string, hints *storage.LabelHints) ([]string, annotations.Annotations, error) {
	out := slices.Clone(extra)
	var annos annotations.Annotations
	for _, r := range results {
		if r.err != nil {
			return nil, nil, r.err
		}
		out = append(out, r.vals...)
		annos.Merge(r.annos)
	}
	slices.Sort(out)
	return limited(slices.Compact(out), hints), annos, nil
}

func limited(vals []string, hints *storage.LabelHints) []string {
	if hints != nil && hints.Limit > 0 && len(vals) > hints.Limit {
		return vals[:hints.Limit]
	}
	return vals
}

// labelledSeriesSet labels every series of one tenant's set.
type labelledSeriesSet struct {
	storage.SeriesSet
	tenant tenant.ID
	sorted bool
	// sortedCopy holds the whole set, sorted, once a series turned out to
	// have a __tenant_id__ of its own (the rename can change the order).
	sortedCopy []storage.Series
	pos        int
}

func (s *labelledSeriesSet) Next() bool {
	if s.sortedCopy != nil {
		s.pos++
		return s.pos < len(s.sortedCopy)
	}
	return s.SeriesSet.Next()
}

func (s *labelledSeriesSet) At() storage.Series {
	if s.sortedCopy != nil {
		return s.sortedCopy[s.pos]
	}
	in := s.SeriesSet.At()
	lset, renamed := withTenant(in.Labels(), s.tenant)
	if renamed && s.sorted {
		s.sortRest(&labelledSeries{Series: in, lset: lset})
		return s.sortedCopy[s.pos]
	}
	return &labelledSeries{Series: in, lset: lset}
}

// sortRest reads the rest of the set after first, labels it and sorts it.
func (s *labelledSeriesSet) sortRest(first storage.Series) {
	all := []storage.Series{first}
	for s.SeriesSet.Next() {
		in := s.SeriesSet.At()
		lset, _ := withTenant(in.Labels(), s.tenant)
		all = append(all, &labelledSeries{Series: in, lset: lset})
	}
	slices.SortFunc(all, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	s.sortedCopy, s.pos = all, 0
}

type labelledSeries struct {
	storage.Series
	lset labels.Labels
}

func (s *labelledSeries) Labels() labels.Labels { return s.lset }

// concatSeriesSet yields the sets one after the other: an unsorted request
// needs no merge, the tenant label makes every series distinct.
func concatSeriesSet(sets []storage.SeriesSet) storage.SeriesSet {
	return &concatSet{sets: sets}
}

type concatSet struct {
	sets []storage.SeriesSet
	i    int
}

func (c *concatSet) Next() bool {
	for c.i < len(c.sets) {
		if c.sets[c.i].Next() {
			return true
		}
		if c.sets[c.i].Err() != nil {
			return false
		}
		c.i++
	}
	return false
}

func (c *concatSet) At() storage.Series { return c.sets[c.i].At() }

func (c *concatSet) Err() error {
	if c.i < len(c.sets) {
		return c.sets[c.i].Err()
	}
	return nil
}

func (c *concatSet) Warnings() annotations.Annotations {
	var annos annotations.Annotations
	for _, s := range c.sets {
		annos.Merge(s.Warnings())
	}
	return annos
}

// labelledChunkSeriesSet labels every chunk series of one tenant's set.
// Remote read's chunk sets come sorted, and a merge re-sorts nothing: a
// series with a __tenant_id__ of its own may come out of order there, which
// remote read tolerates (it streams series, not a sorted stream).
type labelledChunkSeriesSet struct {
	storage.ChunkSeriesSet
	tenant tenant.ID
}

func (s *labelledChunkSeriesSet) At() storage.ChunkSeries {
	in := s.ChunkSeriesSet.At()
	lset, _ := withTenant(in.Labels(), s.tenant)
	return &labelledChunkSeries{ChunkSeries: in, lset: lset}
}

type labelledChunkSeries struct {
	storage.ChunkSeries
	lset labels.Labels
}

func (s *labelledChunkSeries) Labels() labels.Labels { return s.lset }

// ExemplarQueryable is a storage.ExemplarQueryable over inner that answers
// federated requests tenant by tenant.
type ExemplarQueryable struct {
	inner storage.ExemplarQueryable
}

// NewExemplarQueryable wraps inner.
func NewExemplarQueryable(inner storage.ExemplarQueryable) *ExemplarQueryable {
	return &ExemplarQueryable{inner: inner}
}

// ExemplarQuerier returns an exemplar querier for ctx's tenant or tenants.
func (q *ExemplarQueryable) ExemplarQuerier(ctx context.Context) (storage.ExemplarQuerier, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if !id.Federated() {
		return q.inner.ExemplarQuerier(ctx)
	}
	return &exemplarQuerier{inner: q.inner, ctx: ctx}, nil
}

type exemplarQuerier struct {
	inner storage.ExemplarQueryable
	ctx   context.Context
}

type exemplarResult struct {
	res []exemplar.QueryResult
	err error
}

// Select asks each tenant selected by some matcher set for the exemplars
// of the sets that select it.
func (q *exemplarQuerier) Select(start, end int64, matcherSets ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	perTenant := map[tenant.ID][][]*labels.Matcher{}
	var tenants []tenant.ID
	for _, ms := range matcherSets {
		ts, rest, _, err := Tenants(q.ctx, ms)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if _, ok := perTenant[t]; !ok {
				tenants = append(tenants, t)
			}
			perTenant[t] = append(perTenant[t], rest)
		}
	}
	results := forEach(q.ctx, tenants, func(ctx context.Context, t tenant.ID) exemplarResult {
		eq, err := q.inner.ExemplarQuerier(ctx)
		if err != nil {
			return exemplarResult{err: err}
		}
		res, err := eq.Select(start, end, perTenant[t]...)
		for i := range res {
			res[i].SeriesLabels, _ = withTenant(res[i].SeriesLabels, t)
		}
		return exemplarResult{res, err}
	})
	var out []exemplar.QueryResult
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.res...)
	}
	return out, nil
}
