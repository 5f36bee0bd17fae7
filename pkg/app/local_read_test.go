package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/querier"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestAllInOneLocalReadAnswersAsQueryStream reads the all-in-one's own
// ingester in place (its querier) and through QueryStream (a querier
// built on the same ring and clients without the local ingester): every
// query, series selection and per-query limit must answer the same,
// including out-of-order samples, native histograms, a shard matcher
// and a tenant without data.
func TestAllInOneLocalReadAnswersAsQueryStream(t *testing.T) {
	p := startProcess(t, TargetAll, "-ingester.out-of-order-time-window=1h")
	a := p.app
	ctx := tenant.WithID(context.Background(), "team-a")
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-30 * time.Minute)
	req := &ingesterpb.PushRequest{}
	for s := range 60 {
		ts := ingesterpb.TimeSeries{Labels: ingesterpb.FromLabels(labels.FromStrings("__name__", "local_read", "job", fmt.Sprintf("j%d", s%3), "id", fmt.Sprint(s)))}
		for at := start; !at.After(end); at = at.Add(15 * time.Second) {
			ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: at.UnixMilli(), Value: float64(at.Unix()%1000) * float64(s+1)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	h := ingesterpb.TimeSeries{Labels: ingesterpb.FromLabels(labels.FromStrings("__name__", "local_read_hist"))}
	for k, at := 0, start; !at.After(end); k, at = k+1, at.Add(time.Minute) {
		h.Histograms = append(h.Histograms, ingesterpb.FromHistogram(at.UnixMilli(), &histogram.Histogram{
			Count: uint64(k + 2), Sum: float64(k), Schema: 0, ZeroCount: 1,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []int64{int64(k + 1)},
		}))
	}
	req.Timeseries = append(req.Timeseries, h)
	_, err := a.ingester.Push(ctx, req)
	require.NoError(t, err)
	// Out of order: older samples of one series, in a second push.
	ooo := ingesterpb.TimeSeries{Labels: req.Timeseries[0].Labels}
	for at := start.Add(-20 * time.Minute); at.Before(start); at = at.Add(30 * time.Second) {
		ooo.Samples = append(ooo.Samples, ingesterpb.Sample{TimestampMs: at.UnixMilli(), Value: 7})
	}
	_, err = a.ingester.Push(ctx, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{ooo}})
	require.NoError(t, err)

	pool, err := a.clientPool()
	require.NoError(t, err)
	viaStream, err := querier.New(a.cfg.Querier.Config, querier.Deps{
		Registerer: prometheus.NewRegistry(), Instances: a.ingesterRing, Clients: pool, Limits: a.overrides,
	})
	require.NoError(t, err)
	local, remote := a.querier, viaStream

	queries := []string{
		`local_read`,
		`sum by (job) (rate(local_read[5m]))`,
		`count(local_read{job=~"j[01]"})`,
		`local_read{id="0"}`,
		`max_over_time(local_read{id="0"}[40m])`,
		`histogram_count(rate(local_read_hist[5m]))`,
		`local_read_hist`,
		`sum(local_read{__query_shard__="1_of_2"})`,
		`nothing_here`,
	}
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			for _, rng := range []bool{false, true} {
				got, want := runQuery(t, ctx, local, q, rng, start, end), runQuery(t, ctx, remote, q, rng, start, end)
				require.Equal(t, want, got, "range=%v", rng)
			}
		})
	}

	t.Run("series only", func(t *testing.T) {
		read := func(qr *querier.Querier) []string {
			sq, err := qr.Queryable().Querier(start.UnixMilli(), end.UnixMilli())
			require.NoError(t, err)
			defer func() { require.NoError(t, sq.Close()) }()
			ss := sq.Select(ctx, true, &storage.SelectHints{Start: start.UnixMilli(), End: end.UnixMilli(), Func: "series"}, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "local_read.*"))
			var out []string
			for ss.Next() {
				out = append(out, ss.At().Labels().String())
			}
			require.NoError(t, ss.Err())
			return out
		}
		got := read(local)
		require.Len(t, got, 61)
		require.Equal(t, read(remote), got)
	})

	t.Run("tenant without data", func(t *testing.T) {
		other := tenant.WithID(context.Background(), "team-none")
		require.Equal(t, runQuery(t, other, remote, "local_read", true, start, end), runQuery(t, other, local, "local_read", true, start, end))
	})

	t.Run("served in place", func(t *testing.T) {
		// The all-in-one's querier never called QueryStream.
		mfs, err := p.reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != "hearth_querier_ingester_request_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					require.False(t, l.GetName() == "operation" && l.GetValue() == "query_stream", "the local querier called QueryStream")
				}
			}
		}
	})

	for _, lim := range []struct {
		name string
		set  func(*limits.Limits)
	}{
		{"series limit", func(l *limits.Limits) { l.MaxSeriesPerQuery = 10 }},
		{"chunk limit", func(l *limits.Limits) { l.MaxChunksPerQuery = 5 }},
		{"chunk bytes limit", func(l *limits.Limits) { l.MaxChunkBytesPerQuery = 100 }},
	} {
		t.Run(lim.name, func(t *testing.T) {
			l := a.overrides.Defaults()
			lim.set(&l)
			a.overrides.Set(map[tenant.ID]*limits.Limits{"team-a": &l})
			defer a.overrides.Set(nil)
			errOf := func(qr *querier.Querier) error {
				qry, err := qr.Engine().NewRangeQuery(ctx, qr.Queryable(), nil, "sum(local_read)", start, end, time.Minute)
				require.NoError(t, err)
				defer qry.Close()
				return qry.Exec(ctx).Err
			}
			got, want := errOf(local), errOf(remote)
			require.Error(t, want)
			require.Error(t, got)
			var gotLim, wantLim *querier.QueryLimitError
			require.ErrorAs(t, want, &wantLim)
			require.ErrorAs(t, got, &gotLim)
			require.Equal(t, want.Error(), got.Error())
		})
	}
}

// runQuery runs q as an instant query at end, or over [start, end] at a
// 1m step, and returns the result as text.
func runQuery(t *testing.T, ctx context.Context, qr *querier.Querier, q string, rng bool, start, end time.Time) string {
	t.Helper()
	var (
		qry promql.Query
		err error
	)
	if rng {
		qry, err = qr.Engine().NewRangeQuery(ctx, qr.Queryable(), nil, q, start, end, time.Minute)
	} else {
		qry, err = qr.Engine().NewInstantQuery(ctx, qr.Queryable(), nil, q, end)
	}
	require.NoError(t, err)
	defer qry.Close()
	res := qry.Exec(ctx)
	require.NoError(t, res.Err)
	out := res.Value.String()
	if m, ok := res.Value.(promql.Matrix); ok {
		// Series order is not part of a query's answer.
		lines := strings.Split(m.String(), "\n")
		slices.Sort(lines)
		out = strings.Join(lines, "\n")
	}
	return out
}
