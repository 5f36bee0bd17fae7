package usage

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// memTable is an in-memory table for the crash test, which runs in a
// synctest bubble (the embedded store's goroutines live outside it).
type memTable struct {
	mu   sync.Mutex
	rows map[string]map[string][]byte
}

func (m *memTable) Apply(_ context.Context, muts []widecolumn.RowMutation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mut := range muts {
		if m.rows[string(mut.Key)] == nil {
			m.rows[string(mut.Key)] = map[string][]byte{}
		}
		for _, c := range mut.Cells {
			m.rows[string(mut.Key)][string(c.Column)] = bytes.Clone(c.Value)
		}
	}
	return nil
}

func (m *memTable) Read(_ context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(m.rows)) {
		in := false
		for _, key := range req.Keys {
			in = in || string(key) == k
		}
		for _, r := range req.Ranges {
			in = in || (k >= string(r.Start) && (r.End == nil || k < string(r.End)))
		}
		if !in {
			continue
		}
		row := widecolumn.Row{Key: []byte(k)}
		for _, c := range slices.Sorted(maps.Keys(m.rows[k])) {
			row.Cells = append(row.Cells, widecolumn.Cell{Column: []byte(c), Value: m.rows[k][c]})
		}
		if !fn(row) {
			return nil
		}
	}
	return nil
}

// TestACrashLosesAtMostOnePersistInterval runs the ledger's service with a
// 15s interval on a fake clock, counting one sample a second, and ends the
// process without its last write (a kill -9): the restarted process has
// everything counted up to the last interval's write, and loses only the
// seconds since.
func TestACrashLosesAtMostOnePersistInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := &memTable{rows: map[string]map[string][]byte{}}
		const interval = 15 * time.Second
		newProc := func() (*Ledger, *prometheus.CounterVec) {
			reg := prometheus.NewRegistry()
			l, err := New(Deps{Config: Config{PersistInterval: interval, StoreScanInterval: time.Hour, InstanceID: "i"}, Table: table, Gatherer: reg, Registerer: reg})
			require.NoError(t, err)
			samples := promauto.With(l.WrapRegisterer(reg)).NewCounterVec(prometheus.CounterOpts{Name: samplesName, Help: "h"}, []string{"tenant"})
			return l, samples
		}
		l, samples := newProc()
		ctx, crash := context.WithCancel(context.Background())
		require.NoError(t, l.load(ctx))
		done := make(chan error, 1)
		go func() { done <- l.run(ctx) }() // The service's loop, without its stop (the last write).
		counted := 0
		time.Sleep(interval / 30) // Count between the writes, never at one.
		for range 40 {            // 40s: writes at 15s and 30s.
			time.Sleep(time.Second) // The fake clock of the bubble.
			samples.WithLabelValues("team-a").Inc()
			counted++
			synctest.Wait()
		}
		crash()
		require.NoError(t, <-done)

		l2, samples2 := newProc()
		require.NoError(t, l2.load(context.Background()))
		u, err := l2.Usage(context.Background(), "team-a")
		require.NoError(t, err)
		kept := value(u, samplesName, nil)
		require.Equal(t, uint64(29), kept, "the write at 30s: the samples counted at 1.5s, 2.5s, ..., 29.5s")
		require.LessOrEqual(t, counted-int(kept), int(interval/time.Second), "at most one interval lost")
		require.InDelta(t, 29, testCounter(samples2.WithLabelValues("team-a")), 0)
	})
}
