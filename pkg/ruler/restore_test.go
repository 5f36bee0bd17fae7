package ruler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
)

// TestForStateRestore restarts the ruler under an active alert and checks
// the three outcomes of the upstream RestoreForState through the ruler's
// queryable, with a grace period of 10s and 2s of downtime.
func TestForStateRestore(t *testing.T) {
	const (
		grace    = 10 * time.Second
		downtime = 2 * time.Second
		pending  = 3 * time.Second // pending before the ruler stops
	)
	tests := map[string]struct {
		forDuration time.Duration
		firing      bool
		// check gets the active-since times before and after the restart
		// and when the restarted ruler restored.
		check func(t *testing.T, before, after, restoredAt time.Time)
	}{
		"a firing alert keeps its active-since": {
			forDuration: time.Second, firing: true,
			check: func(t *testing.T, before, after, _ time.Time) {
				require.Equal(t, before.Unix(), after.Unix())
			},
		},
		"a pending alert with for above the grace period moves by the downtime": {
			forDuration: time.Minute,
			check: func(t *testing.T, before, after, restoredAt time.Time) {
				moved := after.Sub(before)
				require.GreaterOrEqual(t, moved, downtime-time.Second, "moved by %s", moved)
				// Still credited with the time it was pending before.
				require.Less(t, after, restoredAt.Add(-pending+1500*time.Millisecond), "after=%s restoredAt=%s", after, restoredAt)
			},
		},
		"a pending alert with for below the grace period starts pending again": {
			forDuration: 8 * time.Second,
			check: func(t *testing.T, _, after, restoredAt time.Time) {
				require.WithinDuration(t, restoredAt, after, 1500*time.Millisecond)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := teststorage.New(t)
			app := db.Appender(context.Background())
			_, err := app.Append(0, labels.FromStrings("__name__", "up", "job", "api"), time.Now().UnixMilli(), 0)
			require.NoError(t, err)
			require.NoError(t, app.Commit())
			cfg := testConfig(t)
			cfg.ForGracePeriod = grace
			store := newMemStore()
			store.set(t, "team-a", "ns", fmt.Sprintf(`
groups:
- name: g
  interval: 1s
  rules:
  - alert: APIDown
    expr: up == 0
    for: %s
`, tc.forDuration))

			first := startRuler(t, cfg, nil, store, db)
			want := "pending"
			if tc.firing {
				want = "firing"
			}
			var before time.Time
			require.Eventually(t, func() bool {
				a := first.alerts(t, "team-a", "APIDown")
				if len(a) != 1 || a[0].State != want {
					return false
				}
				before = *a[0].ActiveAt
				// A new manager writes ALERTS_FOR_STATE from its second
				// evaluation on, once it has restored (nothing, here).
				return time.Since(before) >= pending
			}, 20*time.Second, 100*time.Millisecond)
			first.stop()
			<-time.After(downtime) // the outage itself, not synchronisation

			second := startRuler(t, cfg, nil, store, db)
			restored := map[string]string{"tenant": "team-a", "rule_group": "ns;g"}
			require.Eventually(t, func() bool {
				_, ok := second.metric(t, "prometheus_rule_group_last_restore_duration_seconds", restored)
				return ok
			}, 20*time.Second, 50*time.Millisecond)
			restoredAt := time.Now()
			a := second.alerts(t, "team-a", "APIDown")
			require.Len(t, a, 1)
			tc.check(t, before, *a[0].ActiveAt, restoredAt)
		})
	}
}
