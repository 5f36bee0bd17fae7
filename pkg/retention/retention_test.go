package retention

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	_ Store       = (*chunk.Store)(nil)
	_ StoreCaches = (*chunk.Store)(nil)
)

const day = 24 * int64(time.Hour/time.Millisecond)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newBackend(t testing.TB) chunk.Backend {
	t.Helper()
	return backendtest.NewPebble(t)
}

func defaultLimits() limits.Limits {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("limits", flag.PanicOnError))
	return l
}

func withRetention(l limits.Limits, d time.Duration) *limits.Limits {
	l.RetentionPeriod = model.Duration(d)
	return &l
}

// buckets returns the buckets (days after chunktest.Base) each tenant has
// rows in.
func buckets(t *testing.T, b chunk.Backend) map[string][]int {
	t.Helper()
	seen := map[string]map[int]bool{}
	out := map[string][]int{}
	for _, r := range chunktest.Dump(t, b) {
		id, bucket := chunktest.KeyTenantBucket(t, r.Key)
		d := int(int64(bucket) - chunktest.Base/day)
		if seen[id] == nil {
			seen[id] = map[int]bool{}
		}
		if !seen[id][d] {
			seen[id][d] = true
			out[id] = append(out[id], d)
		}
	}
	return out
}

// failingStore fails DeleteBucketsBefore for one tenant.
type failingStore struct {
	Store
	tenant string
}

func (f failingStore) DeleteBucketsBefore(ctx context.Context, id string, t int64) error {
	if id == f.tenant {
		return errors.New("store unavailable")
	}
	return f.Store.DeleteBucketsBefore(ctx, id, t)
}

func TestEnforce(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	s, err := chunk.New(b, chunk.DefaultOptions(), discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	ls := labels.FromStrings("__name__", "up")
	for _, id := range []string{"a", "b", "c"} {
		for d := range int64(5) {
			_, err := s.WriteSeries(ctx, id, []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{chunktest.XORChunk(t, chunktest.Base+d*day+3600000, 10, 15000, uint64(d))}}})
			require.NoError(t, err)
		}
	}
	now := time.UnixMilli(chunktest.Base + 5*day + day/2)
	all := []int{0, 1, 2, 3, 4}

	cases := []struct {
		name      string
		defaults  time.Duration
		overrides map[tenant.ID]time.Duration
		store     func(Store) Store
		wantErr   string
		want      map[string][]int
	}{{
		name: "no retention anywhere: nothing dropped",
		want: map[string][]int{"a": all, "b": all, "c": all},
	}, {
		name:      "an override on one tenant: only its old buckets go",
		overrides: map[tenant.ID]time.Duration{"a": 2 * 24 * time.Hour},
		want:      map[string][]int{"a": {3, 4}, "b": all, "c": all},
	}, {
		name:      "a default reaches every stored tenant but those overridden to 0",
		defaults:  4 * 24 * time.Hour,
		overrides: map[tenant.ID]time.Duration{"a": 2 * 24 * time.Hour, "c": 0},
		want:      map[string][]int{"a": {3, 4}, "b": {1, 2, 3, 4}, "c": all},
	}, {
		name:      "a failing tenant does not stop the others",
		overrides: map[tenant.ID]time.Duration{"b": 3 * 24 * time.Hour, "c": 3 * 24 * time.Hour},
		store:     func(s Store) Store { return failingStore{Store: s, tenant: "b"} },
		wantErr:   "tenant b: store unavailable",
		want:      map[string][]int{"a": {3, 4}, "b": {1, 2, 3, 4}, "c": {2, 3, 4}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defaults := defaultLimits()
			defaults.RetentionPeriod = model.Duration(c.defaults)
			o := limits.NewOverrides(defaults)
			per := map[tenant.ID]*limits.Limits{}
			for id, d := range c.overrides {
				per[id] = withRetention(defaults, d)
			}
			o.Set(per)
			var store Store = s
			if c.store != nil {
				store = c.store(s)
			}
			reg := prometheus.NewPedanticRegistry()
			e, err := NewEnforcer(Deps{Config: Config{Interval: model.Duration(time.Hour)}, Store: store, Overrides: o, Logger: discard(), Registerer: reg})
			require.NoError(t, err)
			e.now = func() time.Time { return now }
			err = e.Enforce(ctx)
			status := "success"
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				status = "failure"
				require.InDelta(t, 1, chunktest.MetricValue(t, reg, "hearth_retention_tenant_failures_total"), 0)
			} else {
				require.NoError(t, err)
				require.InDelta(t, float64(now.Unix()), chunktest.MetricValue(t, reg, "hearth_retention_last_success_timestamp_seconds"), 0)
			}
			require.Equal(t, c.want, buckets(t, b))
			n, err := reg.Gather()
			require.NoError(t, err)
			found := false
			for _, mf := range n {
				if mf.GetName() == "hearth_retention_runs_total" {
					require.Equal(t, status, mf.GetMetric()[0].GetLabel()[0].GetValue())
					found = true
				}
			}
			require.True(t, found)
		})
	}
}

func TestEnforcerService(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	s, err := chunk.New(b, chunk.DefaultOptions(), discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	_, err = s.WriteSeries(ctx, "a", []chunk.SeriesChunks{{Labels: labels.FromStrings("__name__", "up"), Chunks: []chunk.Chunk{chunktest.XORChunk(t, chunktest.Base, 10, 15000, 1)}}})
	require.NoError(t, err)
	defaults := defaultLimits()
	defaults.RetentionPeriod = model.Duration(24 * time.Hour)
	reg := prometheus.NewPedanticRegistry()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("r", flag.PanicOnError))
	require.Equal(t, model.Duration(time.Hour), cfg.Interval)
	e, err := NewEnforcer(Deps{Config: cfg, Store: s, Overrides: limits.NewOverrides(defaults), Logger: discard(), Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, e.Service().StartAsync(ctx))
	// The first run is at start.
	require.Eventually(t, func() bool {
		return chunktest.MetricValue(t, reg, "hearth_retention_runs_total") >= 1
	}, 10*time.Second, time.Millisecond)
	e.Service().StopAsync()
	require.NoError(t, e.Service().AwaitTerminated(ctx))
	require.Empty(t, chunktest.Dump(t, b), "2021 data is past a 24h retention")
}

func TestConfigValidate(t *testing.T) {
	require.ErrorContains(t, (&Config{}).Validate(), "store.retention-interval is 0s, must be positive")
	_, err := NewEnforcer(Deps{Config: Config{Interval: model.Duration(time.Hour)}})
	require.Error(t, err)
}

// TestEnforceAppliesSettledTombstones checks that a run applies the series
// deletions older than an hour, leaves the younger ones to the store's
// query-time filtering, and counts what it applied.
func TestEnforceAppliesSettledTombstones(t *testing.T) {
	ctx := context.Background()
	s, err := chunk.New(newBackend(t), chunk.DefaultOptions(), discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	ls := labels.FromStrings("__name__", "up", "job", "a")
	_, err = s.WriteSeries(ctx, "a", []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{chunktest.XORChunk(t, chunktest.Base, 100, 15000, 1)}}})
	require.NoError(t, err)
	now := time.UnixMilli(chunktest.Base + 5*day)
	job := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "a")}
	settled := chunk.Tombstone{Matchers: job, Start: chunktest.Base, End: chunktest.Base + 15000*9, Created: now.Add(-2 * time.Hour).UnixMilli()}
	fresh := chunk.Tombstone{Matchers: job, Start: chunktest.Base + 15000*50, End: chunktest.Base + 15000*59, Created: now.Add(-time.Minute).UnixMilli()}
	require.NoError(t, s.AddTombstone(ctx, "a", settled))
	require.NoError(t, s.AddTombstone(ctx, "a", fresh))

	reg := prometheus.NewPedanticRegistry()
	e, err := NewEnforcer(Deps{Config: Config{Interval: model.Duration(time.Hour)}, Store: s, Overrides: limits.NewOverrides(defaultLimits()), Logger: discard(), Registerer: reg})
	require.NoError(t, err)
	e.now = func() time.Time { return now }
	require.NoError(t, e.Enforce(ctx))
	require.InDelta(t, 1, chunktest.MetricValue(t, reg, "hearth_retention_applied_tombstones_total"), 0)
	left, err := s.Tombstones(ctx, "a")
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Equal(t, fresh.Start, left[0].Start)

	got, err := s.Select(ctx, "a", chunktest.Base, chunktest.Base+day, job...)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, chunktest.Samples(t, got[0].Chunks), 80, "100 samples, 10 deleted and applied, 10 hidden")
}
