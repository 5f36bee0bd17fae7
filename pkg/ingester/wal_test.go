package ingester

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestWALWatchFindsFailureCounters: the ingester relies on the TSDB's
// counters of failed WAL and WBL writes (see wal.go); a Prometheus or
// client_golang upgrade that hides them must fail here, not in production.
func TestWALWatchFindsFailureCounters(t *testing.T) {
	l := defaultLimits()
	o := limits.NewOverrides(l)
	env := startIngester(t, t.TempDir(), o)
	push(t, env, "t", withSamples(series("__name__", "up"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	tdb := env.ing.tenant("t")
	require.Equal(t, 1, tdb.wal.watching(), "the WAL's counter")
	require.False(t, tdb.wal.failed())

	// The out-of-order WBL appears when a window is applied.
	l.OutOfOrderTimeWindow = model.Duration(time.Hour)
	o.Set(map[tenant.ID]*limits.Limits{"t": &l})
	require.NoError(t, env.ing.Compact(t.Context()))
	require.Equal(t, 2, tdb.wal.watching(), "the WAL's and the WBL's counters")
	require.False(t, tdb.wal.failed())
}

// TestInterruptedWALRepairIsRestored: a WAL repair that ran out of disk
// space leaves the original segment as <segment>.repair and a partial copy
// in its place. The ingester puts the original back before the TSDB opens,
// whose next repair would otherwise rename the partial copy over it.
func TestInterruptedWALRepairIsRestored(t *testing.T) {
	dir := t.TempDir()
	o := limits.NewOverrides(defaultLimits())
	env := startIngester(t, dir, o)
	var want []ingesterpb.Sample
	for k := range 100 {
		s := ingesterpb.Sample{TimestampMs: int64(1000 * (k + 1)), Value: float64(k)}
		push(t, env, "t", withSamples(series("__name__", "up", "job", "a"), s))
		want = append(want, s)
	}
	env.stop()

	seg := filepath.Join(dir, "t", "wal", "00000000")
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	require.NoError(t, os.Rename(seg, seg+".repair"))
	// The partial copy: its first records, the last one torn.
	require.NoError(t, os.WriteFile(seg, data[:len(data)/3], 0o644))

	env = startIngester(t, dir, o)
	got, _ := queryAll(t, env, "t", allSeries())
	require.Equal(t, want, got["up/a"].samples)
	_, err = os.Stat(seg + ".repair")
	require.ErrorIs(t, err, os.ErrNotExist)
}
