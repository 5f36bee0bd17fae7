package limits

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TestFederatedLimitsAreTheStrictest: a federated query is held to the
// strictest of its tenants' query limits (0 = unlimited loses to any
// bound), to the widest out-of-order window (what keeps results out of a
// cache), and to a boolean only when every tenant has it.
func TestFederatedLimitsAreTheStrictest(t *testing.T) {
	defaults := Limits{MaxSeriesPerQuery: 100, MaxQueryLength: model.Duration(time.Hour), RejectOldSamples: true}
	o := NewOverrides(defaults)
	o.Set(map[tenant.ID]*Limits{
		"a": {MaxSeriesPerQuery: 0, MaxSamplesPerQuery: 500, MaxQueryLength: model.Duration(2 * time.Hour), OutOfOrderTimeWindow: model.Duration(time.Minute), RejectOldSamples: true, HAClusterLabel: "x"},
		"b": {MaxSeriesPerQuery: 50, MaxSamplesPerQuery: 0, MaxQueryLength: 0, OutOfOrderTimeWindow: model.Duration(time.Hour), RejectOldSamples: false, HAClusterLabel: "x"},
	})
	for name, tc := range map[tenant.ID]struct {
		series, samples int
		length, ooo     time.Duration
		reject          bool
		label           string
	}{
		"a|b": {series: 50, samples: 500, length: 2 * time.Hour, ooo: time.Hour, reject: false, label: "x"},
		"a|c": {series: 100, samples: 500, length: time.Hour, ooo: time.Minute, reject: true, label: ""},
		"b":   {series: 50, samples: 0, length: 0, ooo: time.Hour, reject: false, label: "x"},
	} {
		t.Run(string(name), func(t *testing.T) {
			l := o.For(name)
			require.Equal(t, tc.series, l.MaxSeriesPerQuery)
			require.Equal(t, tc.samples, l.MaxSamplesPerQuery)
			require.Equal(t, tc.length, time.Duration(l.MaxQueryLength))
			require.Equal(t, tc.ooo, time.Duration(l.OutOfOrderTimeWindow))
			require.Equal(t, tc.reject, l.RejectOldSamples)
			require.Equal(t, tc.label, l.HAClusterLabel)
		})
	}
	// The tenants' own limits are left alone.
	require.Equal(t, 0, o.For("a").MaxSeriesPerQuery)
	require.Equal(t, 100, o.For("c").MaxSeriesPerQuery)
}

// TestFederatedLimitsFollowRuntimeConfig: a federated ID's combined limits
// are cached, and a reload of the runtime config file that changes one of
// its tenants (or adds or removes one's entry) is seen by the next call.
func TestFederatedLimitsFollowRuntimeConfig(t *testing.T) {
	e := newRuntimeEnv(t, "overrides:\n  a:\n    max_series_per_query: 50\n")
	require.NoError(t, e.rc.Reload())
	const id = tenant.ID("a|b")
	defaultSeries := e.o.Defaults().MaxSeriesPerQuery
	require.Equal(t, 50, e.o.For(id).MaxSeriesPerQuery)
	first, again := e.o.For(id), e.o.For(id)
	require.Same(t, first, again, "computed once per ID")

	for _, step := range []struct {
		name, file string
		want       int
	}{
		{"a tenant's limit changes", "overrides:\n  a:\n    max_series_per_query: 40\n", 40},
		{"the other tenant gets an entry", "overrides:\n  a:\n    max_series_per_query: 40\n  b:\n    max_series_per_query: 30\n", 30},
		{"the stricter tenant's entry goes", "overrides:\n  a:\n    max_series_per_query: 40\n", 40},
		{"every entry goes", "overrides: {}\n", defaultSeries},
	} {
		e.write(t, step.file)
		require.NoError(t, e.rc.Reload(), step.name)
		require.Equal(t, step.want, e.o.For(id).MaxSeriesPerQuery, step.name)
	}
}

// TestFederatedCacheIsBounded: federated IDs may come from clients, so
// the cache of combined limits holds at most maxFederatedCached of them,
// and what it answers past the bound is still right.
func TestFederatedCacheIsBounded(t *testing.T) {
	o := NewOverrides(Limits{MaxSeriesPerQuery: 100})
	o.Set(map[tenant.ID]*Limits{"a": {MaxSeriesPerQuery: 10}})
	for i := range 3 * maxFederatedCached {
		id := tenant.ID(fmt.Sprintf("a|t%d", i))
		require.Equal(t, 10, o.For(id).MaxSeriesPerQuery)
	}
	n := 0
	o.table.Load().federated.limits.Range(func(_, _ any) bool { n++; return true })
	require.LessOrEqual(t, n, maxFederatedCached)
	require.Positive(t, n)
}
