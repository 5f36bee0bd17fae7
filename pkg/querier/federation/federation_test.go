package federation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// perTenant is a queryable that reads the storage of the tenant in each
// call's context, and fails for a context without one or with a federated
// one: what the querier's queryable does.
type perTenant map[tenant.ID]*teststorage.TestStorage

var errNoStorage = errors.New("no single-tenant storage for this context")

func (p perTenant) pick(ctx context.Context) (*teststorage.TestStorage, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	s, ok := p[id]
	if !ok {
		return nil, errNoStorage
	}
	return s, nil
}

func (p perTenant) ExemplarQuerier(ctx context.Context) (storage.ExemplarQuerier, error) {
	s, err := p.pick(ctx)
	if err != nil {
		return nil, err
	}
	return s.ExemplarQuerier(ctx)
}

func (p perTenant) Querier(mint, maxt int64) (storage.Querier, error) {
	return &tenantQuerier{p: p, mint: mint, maxt: maxt}, nil
}

func (p perTenant) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	return &tenantChunkQuerier{p: p, mint: mint, maxt: maxt}, nil
}

type tenantQuerier struct {
	p          perTenant
	mint, maxt int64
}

func (q *tenantQuerier) open(ctx context.Context) (storage.Querier, error) {
	s, err := q.p.pick(ctx)
	if err != nil {
		return nil, err
	}
	return s.Querier(q.mint, q.maxt)
}

func (q *tenantQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	in, err := q.open(ctx)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return in.Select(ctx, sortSeries, hints, ms...)
}

func (q *tenantQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	in, err := q.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return in.LabelValues(ctx, name, hints, ms...)
}

func (q *tenantQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	in, err := q.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return in.LabelNames(ctx, hints, ms...)
}

func (*tenantQuerier) Close() error { return nil }

type tenantChunkQuerier struct {
	p          perTenant
	mint, maxt int64
}

func (q *tenantChunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	s, err := q.p.pick(ctx)
	if err != nil {
		return storage.ErrChunkSeriesSet(err)
	}
	in, err := s.ChunkQuerier(q.mint, q.maxt)
	if err != nil {
		return storage.ErrChunkSeriesSet(err)
	}
	return in.Select(ctx, sortSeries, hints, ms...)
}

func (*tenantChunkQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*tenantChunkQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*tenantChunkQuerier) Close() error { return nil }

const ts = 1_000_000

func newStorages(t *testing.T) perTenant {
	p := perTenant{}
	for id, series := range map[tenant.ID][]labels.Labels{
		"a": {labels.FromStrings("__name__", "up", "job", "api"), labels.FromStrings("__name__", "up", "job", "db")},
		"b": {labels.FromStrings("__name__", "up", "job", "api"), labels.FromStrings("__name__", "up", "job", "web", Label, "own")},
		"c": {labels.FromStrings("__name__", "other", "job", "c")},
	} {
		s := teststorage.New(t)
		app := s.Appender(context.Background())
		for i, lset := range series {
			ref, err := app.Append(0, lset, ts, float64(i+1))
			require.NoError(t, err)
			_, err = app.AppendExemplar(ref, lset, exemplar.Exemplar{Labels: labels.FromStrings("trace_id", string(id)), Value: 1, Ts: ts, HasTs: true})
			require.NoError(t, err)
		}
		require.NoError(t, app.Commit())
		p[id] = s
	}
	return p
}

func TestFederatedQueries(t *testing.T) {
	q := NewQueryable(newStorages(t))
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1000, Timeout: time.Minute})
	for name, tc := range map[string]struct {
		tenant tenant.ID
		query  string
		want   []string // series (labels.String) with their values
	}{
		"one tenant goes straight through": {"a", `up`, []string{
			`{__name__="up", job="api"} => 1`, `{__name__="up", job="db"} => 2`}},
		"every series carries its tenant": {"a|b", `up`, []string{
			`{__name__="up", __tenant_id__="a", job="api"} => 1`,
			`{__name__="up", __tenant_id__="a", job="db"} => 2`,
			`{__name__="up", __tenant_id__="b", job="api"} => 1`,
			`{__name__="up", __tenant_id__="b", job="web", original___tenant_id__="own"} => 2`}},
		"a matcher on __tenant_id__ selects tenants": {"a|b|c", `up{__tenant_id__=~"b|c"}`, []string{
			`{__name__="up", __tenant_id__="b", job="api"} => 1`,
			`{__name__="up", __tenant_id__="b", job="web", original___tenant_id__="own"} => 2`}},
		"aggregation by tenant": {"a|b", `sum by (__tenant_id__) (up)`, []string{
			`{__tenant_id__="a"} => 3`, `{__tenant_id__="b"} => 3`}},
		"a tenant with nothing": {"a|c", `count(up)`, []string{`{} => 2`}},
		"no tenant selected":    {"a|b", `up{__tenant_id__="z"}`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := tenant.WithID(context.Background(), tc.tenant)
			qry, err := engine.NewInstantQuery(ctx, q, nil, tc.query, time.UnixMilli(ts))
			require.NoError(t, err)
			res := qry.Exec(ctx)
			require.NoError(t, res.Err)
			vec, err := res.Vector()
			require.NoError(t, err)
			var got []string
			for _, s := range vec {
				got = append(got, fmt.Sprintf("%s => %g", s.Metric, s.F))
			}
			require.ElementsMatch(t, tc.want, got)
		})
	}
}

func TestFederatedLabels(t *testing.T) {
	q := NewQueryable(newStorages(t))
	querier, err := q.Querier(0, ts+1)
	require.NoError(t, err)
	ctx := tenant.WithID(context.Background(), "a|b|c")

	names, _, err := querier.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", Label, "job"}, names)

	vals, _, err := querier.LabelValues(ctx, "job", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"api", "c", "db", "web"}, vals)

	vals, _, err = querier.LabelValues(ctx, "job", &storage.LabelHints{Limit: 2}, labels.MustNewMatcher(labels.MatchEqual, Label, "b"))
	require.NoError(t, err)
	require.Equal(t, []string{"api", "web"}, vals)

	vals, _, err = querier.LabelValues(ctx, Label, nil, labels.MustNewMatcher(labels.MatchNotEqual, Label, "a"))
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, vals)

	// A tenant's failure fails the whole: a partial answer would look
	// complete.
	_, _, err = querier.LabelValues(tenant.WithID(context.Background(), "a|missing"), "job", nil)
	require.ErrorIs(t, err, errNoStorage)
}

func TestFederatedChunkSelect(t *testing.T) {
	q := NewQueryable(newStorages(t))
	cq, err := q.ChunkQuerier(0, ts+1)
	require.NoError(t, err)
	set := cq.Select(tenant.WithID(context.Background(), "a|b"), true, nil, labels.MustNewMatcher(labels.MatchEqual, "job", "api"))
	var got []string
	for set.Next() {
		got = append(got, set.At().Labels().String())
	}
	require.NoError(t, set.Err())
	require.Equal(t, []string{`{__name__="up", __tenant_id__="a", job="api"}`, `{__name__="up", __tenant_id__="b", job="api"}`}, got)
}

func TestFederatedExemplars(t *testing.T) {
	q := NewExemplarQueryable(newStorages(t))
	eq, err := q.ExemplarQuerier(tenant.WithID(context.Background(), "a|b|c"))
	require.NoError(t, err)
	res, err := eq.Select(0, ts+1,
		[]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "api")},
		[]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "c"), labels.MustNewMatcher(labels.MatchEqual, Label, "c")},
	)
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range res {
		require.Len(t, r.Exemplars, 1)
		got[r.SeriesLabels.String()] = r.Exemplars[0].Labels.Get("trace_id")
	}
	require.Equal(t, map[string]string{
		`{__name__="up", __tenant_id__="a", job="api"}`:  "a",
		`{__name__="up", __tenant_id__="b", job="api"}`:  "b",
		`{__name__="other", __tenant_id__="c", job="c"}`: "c",
	}, got)
}
