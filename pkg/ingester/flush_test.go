package ingester

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestForceCompactCompactsTheWholeHead(t *testing.T) {
	f := &fakeFlusher{flushed: map[ulid.ULID]bool{}}
	l := defaultLimits()
	l.OutOfOrderTimeWindow = 0
	env := startIngester(t, t.TempDir(), limits.NewOverrides(l), withFlusher(f))
	ctx := context.Background()

	// 3h10m of data: one complete range [0, 2h) that a regular cycle would
	// not even compact yet (the head must span 3h for that), and a partial
	// one.
	s := series("__name__", "m", "job", "j")
	for ts := time.Duration(0); ts <= 3*time.Hour+10*time.Minute; ts += time.Minute {
		s.Samples = append(s.Samples, ingesterpb.Sample{TimestampMs: ts.Milliseconds(), Value: float64(ts / time.Minute)})
	}
	require.Empty(t, push(t, env, "t", s).Errors)
	// A second tenant with one sample, and an empty third one.
	require.Empty(t, push(t, env, "u", withSamples(series("__name__", "m"), ingesterpb.Sample{TimestampMs: 1000, Value: 1})).Errors)

	require.NoError(t, env.ing.ForceCompact(ctx))
	blocks := env.ing.Blocks("t")
	require.Len(t, blocks, 2)
	require.Equal(t, [2]int64{0, (2 * time.Hour).Milliseconds()}, [2]int64{blocks[0].MinTime, blocks[0].MaxTime})
	require.Equal(t, [2]int64{(2 * time.Hour).Milliseconds(), (3*time.Hour + 10*time.Minute).Milliseconds() + 1}, [2]int64{blocks[1].MinTime, blocks[1].MaxTime})
	require.Len(t, env.ing.Blocks("u"), 1)
	require.Len(t, f.blocks(), 3, "every new block is reported")

	// Everything is still served, now from blocks.
	got, _ := queryAll(t, env, "t", allSeries())
	require.Len(t, got["m/j"].samples, len(s.Samples))

	// Nothing left: a second call makes no block.
	require.NoError(t, env.ing.ForceCompact(ctx))
	require.Len(t, f.blocks(), 3)

	// Newer samples go on in a new head range.
	next := ingesterpb.Sample{TimestampMs: (3*time.Hour + 11*time.Minute).Milliseconds(), Value: 1}
	require.Empty(t, push(t, env, "t", withSamples(series("__name__", "m", "job", "j"), next)).Errors)
	require.NoError(t, env.ing.ForceCompact(ctx))
	require.Len(t, f.blocks(), 4)
}

func TestDeleteTenant(t *testing.T) {
	f := &fakeFlusher{flushed: map[ulid.ULID]bool{}}
	dir := t.TempDir()
	env := startIngester(t, dir, limits.NewOverrides(defaultLimits()), withFlusher(f))
	ctx := context.Background()
	for _, id := range []string{"gone", "kept"} {
		s := series("__name__", "m", "job", id)
		for ts := time.Duration(0); ts <= 4*time.Hour; ts += time.Minute {
			s.Samples = append(s.Samples, ingesterpb.Sample{TimestampMs: ts.Milliseconds(), Value: 1})
		}
		require.Empty(t, push(t, env, id, s).Errors)
		_, err := env.ing.MetricMetadata(ctxFor(id), &ingesterpb.MetricMetadataRequest{})
		require.NoError(t, err)
	}
	require.NoError(t, env.ing.Compact(ctx)) // A local block for each.
	require.Len(t, env.ing.Blocks("gone"), 1)

	require.NoError(t, env.ing.DeleteTenant(ctx, "gone"))
	require.NoError(t, env.ing.DeleteTenant(ctx, "never-seen"))

	got, _ := queryAll(t, env, "gone", allSeries())
	require.Empty(t, got)
	require.Nil(t, env.ing.Blocks("gone"))
	_, err := os.Stat(filepath.Join(dir, "gone"))
	require.ErrorIs(t, err, os.ErrNotExist)
	stats, err := env.ing.AllTenantStats(ctx, &ingesterpb.AllTenantStatsRequest{})
	require.NoError(t, err)
	require.Len(t, stats.Tenants, 1)
	require.Equal(t, "kept", stats.Tenants[0].Tenant)
	got, _ = queryAll(t, env, "kept", allSeries())
	require.Len(t, got["m/kept"].samples, 241)
	require.InDelta(t, 1, testutil.ToFloat64(env.ing.metrics.memoryTenants), 0)
	for _, name := range []string{"hearth_ingester_memory_series", "hearth_ingester_ingested_samples_total"} {
		n, err := testutil.GatherAndCount(env.reg, name)
		require.NoError(t, err)
		require.Equal(t, 1, n, name)
	}

	// The tenant starts afresh on its next push.
	require.Empty(t, push(t, env, "gone", withSamples(series("__name__", "new"), ingesterpb.Sample{TimestampMs: 1, Value: 1})).Errors)
	got, _ = queryAll(t, env, "gone", allSeries())
	require.Len(t, got, 1)

	// Not while stopped.
	env.stop()
	require.ErrorIs(t, env.ing.DeleteTenant(ctx, "kept"), ErrNotRunning)
}

func TestWindowStart(t *testing.T) {
	for _, c := range [][3]int64{{0, 10, 0}, {9, 10, 0}, {10, 10, 10}, {-1, 10, -10}, {-10, 10, -10}, {-11, 10, -20}} {
		require.Equal(t, c[2], windowStart(c[0], c[1]), "%d", c[0])
	}
}
