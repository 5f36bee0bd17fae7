package ingester

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestReplayProgress(t *testing.T) {
	var r replayState
	require.Equal(t, ReplayStatus{}, r.status(), "before the start")

	start := time.Now()
	r.begin(3, start)
	r.opening("a", nil)
	r.opened(10)
	stats := tsdb.NewDBStats()
	r.opening("b", stats)
	stats.Head.WALReplayStatus.Min, stats.Head.WALReplayStatus.Max, stats.Head.WALReplayStatus.Current = 2, 7, 4
	got := r.status()
	require.Positive(t, got.DurationSeconds)
	got.DurationSeconds = 0
	require.Equal(t, ReplayStatus{Tenants: 3, TenantsReplayed: 1, Tenant: "b", Segment: 4, FirstSegment: 2, LastSegment: 7, Series: 10}, got)

	r.opened(5)
	r.opening("c", tsdb.NewDBStats())
	r.opened(0)
	r.end(start.Add(3 * time.Second))
	require.Equal(t, ReplayStatus{Done: true, Tenants: 3, TenantsReplayed: 3, Series: 15, DurationSeconds: 3}, r.status())
}

func TestRestartReportsReplay(t *testing.T) {
	dir := t.TempDir()
	o := limits.NewOverrides(defaultLimits())
	env := startIngester(t, dir, o)
	require.Equal(t, ReplayStatus{Done: true}, zeroDuration(env.ing.Status().Replay), "nothing to replay")
	for _, id := range []string{"a", "b"} {
		push(t, env, id,
			withSamples(series("__name__", "up", "job", "x"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}),
			withSamples(series("__name__", "up", "job", "y"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	}
	env.stop()

	env = startIngester(t, dir, o)
	st := env.ing.Status()
	require.Equal(t, ReplayStatus{Done: true, Tenants: 2, TenantsReplayed: 2, Series: 4}, zeroDuration(st.Replay))
	require.Equal(t, 2, st.Tenants)
	require.Empty(t, st.WALFailedTenants)
	require.NoError(t, testutil.GatherAndCompare(env.reg, strings.NewReader(`
# HELP hearth_ingester_wal_replay_tenants Tenants whose WAL the ingester replays at startup (the tenant directories it found).
# TYPE hearth_ingester_wal_replay_tenants gauge
hearth_ingester_wal_replay_tenants 2
# HELP hearth_ingester_wal_replayed_tenants Tenants whose WAL is replayed so far at startup; equal to hearth_ingester_wal_replay_tenants once the ingester is running.
# TYPE hearth_ingester_wal_replayed_tenants gauge
hearth_ingester_wal_replayed_tenants 2
`), "hearth_ingester_wal_replay_tenants", "hearth_ingester_wal_replayed_tenants"))
	require.Positive(t, metricValue(t, env.reg, "hearth_ingester_wal_replay_duration_seconds"))
	require.Positive(t, metricValue(t, env.reg, "hearth_ingester_tsdb_data_replay_duration_seconds", "tenant", "a"), "per tenant, from the TSDB")
}

func zeroDuration(s ReplayStatus) ReplayStatus {
	s.DurationSeconds = 0
	return s
}

// TestStatusDuringReplay watches a restart whose second tenant has a large
// WAL: while it replays, the ingester is Starting and Status says which
// tenant is being replayed and how far the replay is.
func TestStatusDuringReplay(t *testing.T) {
	dir := t.TempDir()
	l := defaultLimits()
	l.MaxSeriesPerMetric = 0
	o := limits.NewOverrides(l)
	env := startIngester(t, dir, o)
	one := withSamples(series("__name__", "up"), ingesterpb.Sample{TimestampMs: 1000, Value: 1})
	push(t, env, "a", one)
	push(t, env, "c", one)
	req := &ingesterpb.PushRequest{}
	for k := range 50_000 {
		req.Timeseries = append(req.Timeseries, withSamples(series("__name__", "big", "i", strconv.Itoa(k)), ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	}
	_, err := env.client.Push(ctxFor("b"), req)
	require.NoError(t, err)
	env.stop()

	ing, err := New(Deps{Config: defaultConfig(dir), Logger: discardLogger(), Registerer: newRegistry(), Overrides: o})
	require.NoError(t, err)
	require.NoError(t, ing.Service().StartAsync(context.Background()))
	t.Cleanup(func() {
		ing.Service().StopAsync()
		require.NoError(t, ing.Service().AwaitTerminated(context.Background()))
	})
	require.Eventually(t, func() bool {
		s := ing.Status().Replay
		return s.Tenant == "b" && ing.Service().State() == services.Starting
	}, 10*time.Second, 100*time.Microsecond, "never saw tenant b replaying")
	s := ing.Status().Replay
	require.False(t, s.Done)
	require.Equal(t, 3, s.Tenants)
	require.Equal(t, 1, s.TenantsReplayed)
	require.Equal(t, 1, s.Series)

	require.NoError(t, ing.Service().AwaitRunning(context.Background()))
	require.Equal(t, ReplayStatus{Done: true, Tenants: 3, TenantsReplayed: 3, Series: 50_002}, zeroDuration(ing.Status().Replay))
}
