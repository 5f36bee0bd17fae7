package ingester

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	tdb := env.ing.dbs.get("t")
	require.True(t, tdb.wal.watches(walWritesFailedCounter))
	require.False(t, tdb.wal.watches(wblWritesFailedCounter))
	require.Equal(t, 1, tdb.wal.watching(), "the WAL's counter")
	require.False(t, tdb.wal.failed())

	// The out-of-order WBL appears when a window is applied.
	l.OutOfOrderTimeWindow = model.Duration(time.Hour)
	o.Set(map[tenant.ID]*limits.Limits{"t": &l})
	require.NoError(t, env.ing.Compact(t.Context()))
	require.True(t, tdb.wal.watches(wblWritesFailedCounter))
	require.Equal(t, 2, tdb.wal.watching(), "the WAL's and the WBL's counters")
	require.False(t, tdb.wal.failed())
}

// TestFailureCounter: the WAL watch finds the failure counters by the name
// a registry gathers, as the TSDB registers them (behind a prefixing
// Registerer), without collecting any other collector, and fails loudly
// when a counter is missing.
func TestFailureCounter(t *testing.T) {
	counter := func(name string) prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "h"})
	}
	tests := map[string]struct {
		register func(reg prometheus.Registerer)
		want     []string
	}{
		"the WAL's counter": {
			register: func(reg prometheus.Registerer) { reg.MustRegister(counter(walWritesFailedCounter)) },
			want:     []string{walWritesFailedCounter},
		},
		"both counters, registered behind a prefix as the TSDB does": {
			register: func(reg prometheus.Registerer) {
				prometheus.WrapRegistererWithPrefix("prometheus_tsdb_wal_", reg).MustRegister(counter("writes_failed_total"))
				prometheus.WrapRegistererWithPrefix("prometheus_tsdb_out_of_order_wbl_", reg).MustRegister(counter("writes_failed_total"))
			},
			want: []string{walWritesFailedCounter, wblWritesFailedCounter},
		},
		"a renamed counter is not watched": {
			register: func(reg prometheus.Registerer) { reg.MustRegister(counter("prometheus_tsdb_wal_write_failures_total")) },
		},
		"a counter with labels is not watched": {
			register: func(reg prometheus.Registerer) {
				reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: walWritesFailedCounter, Help: "h"}, []string{"segment"}))
			},
		},
		"other collectors are described, never collected": {
			register: func(reg prometheus.Registerer) {
				reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prometheus_tsdb_head_series", Help: "h"},
					func() float64 { panic("collected while the TSDB opens") }))
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newWALWatch(prometheus.NewRegistry())
			tc.register(w)
			require.Equal(t, len(tc.want), w.watching())
			for _, n := range tc.want {
				require.True(t, w.watches(n), n)
			}
			var missing *errCounterMissing
			err := w.checkWatching(true)
			if len(tc.want) == 2 {
				require.NoError(t, err)
				require.False(t, w.failed())
				return
			}
			require.ErrorAs(t, err, &missing)
		})
	}
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
