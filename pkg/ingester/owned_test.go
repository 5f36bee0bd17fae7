//go:build !slicelabels && !dedupelabels

package ingester

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestPreCreationCreatesSeriesOnlyFromOwnedLabels checks the limiter lets
// the head create a series only with a label set Push has allowed (an
// owned copy), by its memory: an equal label set elsewhere is refused.
func TestPreCreationCreatesSeriesOnlyFromOwnedLabels(t *testing.T) {
	owned := labels.FromStrings("__name__", "up", "job", "api")
	equal := owned.Copy()
	for name, tc := range map[string]struct {
		enforcing bool
		allow     []labels.Labels
		disallow  []labels.Labels
		lset      labels.Labels
		want      error
	}{
		"a label set never allowed is refused":               {enforcing: true, lset: owned, want: errUnownedLabels},
		"an allowed label set is accepted":                   {enforcing: true, allow: []labels.Labels{owned}, lset: owned},
		"an equal label set in other memory is refused":      {enforcing: true, allow: []labels.Labels{owned}, lset: equal, want: errUnownedLabels},
		"a label set allowed then disallowed is refused":     {enforcing: true, allow: []labels.Labels{owned}, disallow: []labels.Labels{owned}, lset: owned, want: errUnownedLabels},
		"a label set allowed twice stays after one disallow": {enforcing: true, allow: []labels.Labels{owned, owned}, disallow: []labels.Labels{owned}, lset: owned},
		"WAL replay (not enforcing) creates any series":      {lset: equal},
	} {
		t.Run(name, func(t *testing.T) {
			var instance atomic.Int64
			l := newSeriesLimiter("t", limits.NewOverrides(defaultLimits()), nil, promauto.With(nil).NewGauge(prometheus.GaugeOpts{Name: "g"}), &instance, 0)
			l.enforcing.Store(tc.enforcing)
			for _, ls := range tc.allow {
				l.owned.allow(ls)
			}
			for _, ls := range tc.disallow {
				l.owned.disallow(ls)
			}
			err := l.PreCreation(tc.lset)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// TestPushWithLabels checks the label sets a caller in the process gives
// beside the pairs (PushWithLabels): a new series keeps the given set
// itself, without a copy (it is owned memory); an existing series is found
// with it; an empty entry, or a slice whose length is not the request's,
// leaves the series to be built from its pairs.
func TestPushWithLabels(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	ctx := ctxFor("t")
	given := labels.FromStrings("__name__", "given", "job", "a")
	pairsOnly := labels.FromStrings("__name__", "pairs_only", "job", "a")
	wrongLen := labels.FromStrings("__name__", "wrong_len", "job", "a")
	wire := func(ls labels.Labels, ts int64) ingesterpb.TimeSeries {
		return ingesterpb.TimeSeries{
			Labels:  ingesterpb.AppendLabelPairs(nil, ls),
			Samples: []ingesterpb.Sample{{TimestampMs: ts, Value: float64(ts)}},
		}
	}
	for _, p := range []struct {
		series []ingesterpb.TimeSeries
		lsets  []labels.Labels
	}{
		{series: []ingesterpb.TimeSeries{wire(given, 1000), wire(pairsOnly, 1000)}, lsets: []labels.Labels{given, labels.EmptyLabels()}},
		{series: []ingesterpb.TimeSeries{wire(wrongLen, 1000)}, lsets: []labels.Labels{wrongLen, given}},
		// The series exists: found with an equal set in other memory.
		{series: []ingesterpb.TimeSeries{wire(given, 2000)}, lsets: []labels.Labels{given.Copy()}},
	} {
		resp, err := env.ing.PushWithLabels(ctx, &ingesterpb.PushRequest{Timeseries: p.series}, p.lsets)
		require.NoError(t, err)
		require.Empty(t, resp.Errors)
	}

	q, err := env.ing.dbs.get("t").db.Querier(0, 10_000)
	require.NoError(t, err)
	defer q.Close()
	stored := map[string]labels.Labels{}
	samples := map[string]int{}
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for ss.Next() {
		ls := ss.At().Labels()
		name := ls.Get("__name__")
		stored[name] = ls
		it := ss.At().Iterator(nil)
		for it.Next() != chunkenc.ValNone {
			samples[name]++
		}
	}
	require.NoError(t, ss.Err())
	require.Equal(t, map[string]int{"given": 2, "pairs_only": 1, "wrong_len": 1}, samples)
	for _, ls := range []labels.Labels{given, pairsOnly, wrongLen} {
		require.Equal(t, ls, stored[ls.Get("__name__")])
	}
	// Identities are pointers: compared as such, not by what they point to.
	require.Same(t, labelsIdentity(given), labelsIdentity(stored["given"]), "the head keeps the given set, not a copy")
	require.NotSame(t, labelsIdentity(wrongLen), labelsIdentity(stored["wrong_len"]), "a slice of another length is not used")
}
