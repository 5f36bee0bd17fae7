package flusher

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/chunk"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Bigtable client's process-wide workers.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

const (
	minute = int64(time.Minute / time.Millisecond)
	hour   = 60 * minute
)

func TestConfig(t *testing.T) {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("f", flag.PanicOnError))
	require.NoError(t, c.Validate())
	require.Equal(t, 4, c.Concurrency)
	c.Concurrency = 0
	require.ErrorContains(t, c.Validate(), "ingester.flush-concurrency is 0")
	_, err := New(Deps{Config: c})
	require.Error(t, err)
}

// TestFlushEveryBlock pushes 7h of samples, compacts the complete ranges,
// flushes everything else through the HTTP handler, and finds every sample
// in the store; the local blocks, flushed and old, then go.
func TestFlushEveryBlock(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, newBackend(t))
			dir := t.TempDir()
			n := startNode(t, dir, s)
			d := data{series: 20, from: base, to: base + 7*hour, step: 30000}
			d.push(t, n, "t1")
			require.NoError(t, n.ing.Compact(ctx))
			first := n.ing.Blocks("t1")
			require.Len(t, first, 2) // [0, 2h) and [2h, 4h).
			require.NoError(t, n.fl.Wait(ctx))
			for _, b := range first {
				require.True(t, n.fl.Flushed("t1", b))
			}

			srv := httptest.NewServer(n.fl.Handler(n.ing))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
			resp, err = http.Post(srv.URL, "", nil)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusNoContent, resp.StatusCode)

			// The forced compaction made [4h, 6h) and [6h, 7h]; its block
			// reload deleted the first two, flushed and far past
			// -ingester.retention-period.
			blocks := n.ing.Blocks("t1")
			require.Len(t, blocks, 2)
			require.Equal(t, [2]int64{base + 4*hour, base + 7*hour + 1}, [2]int64{blocks[0].MinTime, blocks[1].MaxTime})
			for _, b := range blocks {
				require.True(t, n.fl.Flushed("t1", b))
				require.FileExists(t, filepath.Join(dir, "t1", b.ULID.String(), markFile))
			}
			require.Equal(t, d.expected(), stored(t, s, "t1"))

			for name, want := range map[string]float64{
				"hearth_ingester_flushed_blocks_total":               4,
				"hearth_ingester_flushed_series_total":               4 * 20,
				"hearth_ingester_flush_queue_length":                 0,
				"hearth_ingester_flush_failures_total":               0,
				"hearth_ingester_oldest_unflushed_block_age_seconds": 0,
			} {
				require.InDelta(t, want, metric(t, n.flReg, name), 0, name)
			}
			require.Positive(t, metric(t, n.flReg, "hearth_ingester_flushed_chunks_total"))
			require.Positive(t, metric(t, n.flReg, "hearth_ingester_flushed_bytes_total"))
			require.Equal(t, uint64(4), histogramCount(t, n.flReg, "hearth_ingester_flush_duration_seconds"))

		})
	}
}

// TestHungStoreFailsTheAttempt holds every write: each one fails after
// -ingester.flush-op-timeout, counted and retried, until the store answers.
func TestHungStoreFailsTheAttempt(t *testing.T) {
	ctx := context.Background()
	w := &faultyWriter{next: newStore(t, newPebble(t))}
	gate := make(chan struct{})
	w.setGate(gate)
	n := startNode(t, t.TempDir(), w, func(c *Config) { c.OpTimeout = 20 * time.Millisecond })
	n.fl.now = func() time.Time { return time.Now().Add(time.Minute) }

	data{series: 10, from: base, to: base + 3*hour + 5*minute, step: 5 * minute}.push(t, n, "t1")
	require.NoError(t, n.ing.Compact(ctx))
	require.Eventually(t, func() bool {
		return metric(t, n.flReg, "hearth_ingester_flush_failures_total") >= 2
	}, 10*time.Second, time.Millisecond)
	st := n.fl.Status()
	require.Contains(t, st.LastError, "took longer than -ingester.flush-op-timeout=20ms")

	w.setGate(nil)
	close(gate)
	require.NoError(t, n.fl.Wait(ctx))
	require.True(t, n.fl.Flushed("t1", n.ing.Blocks("t1")[0]))
}

// TestRetriesResumeAfterTheWrittenSeries holds the store, shows the
// backlog in the metrics, then fails the second batch three times: the
// block is flushed once the store accepts, without writing the first
// batch again.
func TestRetriesResumeAfterTheWrittenSeries(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, newPebble(t))
	w := &faultyWriter{next: s, fail: func(call int) bool { return call >= 2 && call <= 4 }}
	gate := make(chan struct{})
	w.setGate(gate)
	n := startNode(t, t.TempDir(), w)
	n.fl.now = func() time.Time { return time.Now().Add(time.Minute) }

	// 2,500 series: three batches in the block [0, 2h).
	d := data{series: 2500, from: base, to: base + 3*hour + 5*minute, step: 5 * minute}
	d.push(t, n, "t1")
	require.NoError(t, n.ing.Compact(ctx))
	require.Len(t, n.ing.Blocks("t1"), 1)
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.calls == 1
	}, 10*time.Second, time.Millisecond)
	require.InDelta(t, 1, metric(t, n.flReg, "hearth_ingester_flush_queue_length"), 0)
	require.GreaterOrEqual(t, metric(t, n.flReg, "hearth_ingester_oldest_unflushed_block_age_seconds"), 59.0)
	require.False(t, n.fl.Flushed("t1", n.ing.Blocks("t1")[0]))

	w.setGate(nil)
	close(gate)
	require.NoError(t, n.fl.Wait(ctx))
	require.True(t, n.fl.Flushed("t1", n.ing.Blocks("t1")[0]))
	require.EqualValues(t, 3, w.failed.Load())
	require.EqualValues(t, 2500, w.series.Load(), "the first batch is not written again")
	require.InDelta(t, 3, metric(t, n.flReg, "hearth_ingester_flush_failures_total"), 0)
	require.InDelta(t, 0, metric(t, n.flReg, "hearth_ingester_flush_queue_length"), 0)
	want := data{series: 2500, from: base, to: base + 2*hour - 5*minute, step: 5 * minute}
	require.Equal(t, want.expected(), stored(t, s, "t1"))
}

// TestLocalBlocksWaitForTheMarkAndRetention checks the ingester keeps a
// block that is not in the store (however old), and a flushed block that
// is younger than -ingester.retention-period.
func TestLocalBlocksWaitForTheMarkAndRetention(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, newPebble(t))
	w := &faultyWriter{next: s}
	gate := make(chan struct{})
	w.setGate(gate)
	n := startNode(t, t.TempDir(), w)

	data{series: 5, from: base, to: base + 5*hour, step: minute}.push(t, n, "old")
	require.NoError(t, n.ing.Compact(ctx))
	require.Len(t, n.ing.Blocks("old"), 1)
	require.NoError(t, n.ing.Compact(ctx))
	require.Len(t, n.ing.Blocks("old"), 1, "not flushed: kept")

	w.setGate(nil)
	close(gate)
	require.NoError(t, n.fl.Wait(ctx))
	// Deletion happens at the next block reload: the TSDB's own, every
	// minute, or a compaction's, as here.
	data{series: 5, from: base + 5*hour + minute, to: base + 7*hour, step: minute}.push(t, n, "old")
	require.NoError(t, n.ing.Compact(ctx))
	blocks := n.ing.Blocks("old")
	require.Len(t, blocks, 1, "flushed and old: deleted")
	require.Equal(t, base+2*hour, blocks[0].MinTime)

	now := time.Now().UnixMilli()
	data{series: 5, from: now - 7*hour, to: now, step: minute}.push(t, n, "recent")
	require.NoError(t, n.ing.Compact(ctx))
	recent := n.ing.Blocks("recent")
	require.NotEmpty(t, recent)
	require.NoError(t, n.fl.Wait(ctx))
	require.NoError(t, n.ing.Compact(ctx))
	require.Equal(t, recent, n.ing.Blocks("recent"), "flushed but within retention: kept")
	for _, b := range recent {
		require.True(t, n.fl.Flushed("recent", b))
	}
}

// TestRestartFlushesUnmarkedBlocksOnly restarts an ingester whose blocks
// are flushed except one (its mark removed, as after a crash between the
// last write and the mark).
func TestRestartFlushesUnmarkedBlocksOnly(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, newPebble(t))
	dir := t.TempDir()
	n := startNode(t, dir, s)
	now := time.Now().UnixMilli()
	d := data{series: 10, from: now - 9*hour, to: now - hour, step: minute}
	d.push(t, n, "t1")
	require.NoError(t, n.ing.Compact(ctx))
	blocks := n.ing.Blocks("t1")
	require.GreaterOrEqual(t, len(blocks), 2)
	require.NoError(t, n.fl.Wait(ctx))
	n.stop(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "t1", blocks[0].ULID.String(), markFile)))

	w := &faultyWriter{next: s}
	n = startNode(t, dir, w)
	for _, b := range blocks {
		require.False(t, n.fl.Flushed("t1", b), "not known before the ingester reports it")
	}
	require.NoError(t, n.ing.Compact(ctx))
	require.NoError(t, n.fl.Wait(ctx))
	require.Equal(t, blocks, n.ing.Blocks("t1"))
	for _, b := range blocks {
		require.True(t, n.fl.Flushed("t1", b))
		require.FileExists(t, filepath.Join(dir, "t1", b.ULID.String(), markFile))
	}
	require.EqualValues(t, 10, w.series.Load(), "only the unmarked block is written again")
	require.InDelta(t, 1, metric(t, n.flReg, "hearth_ingester_flushed_blocks_total"), 0)
}

// TestDeleteTenantCancelsItsFlushes deletes a tenant whose block is being
// flushed: the flush stops, nothing of it reaches the store, and the other
// tenant's block is flushed.
func TestDeleteTenantCancelsItsFlushes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, newPebble(t))
	w := &faultyWriter{next: s}
	gate := make(chan struct{})
	w.setGate(gate)
	n := startNode(t, t.TempDir(), w)
	for _, id := range []string{"gone", "kept"} {
		data{series: 5, from: base, to: base + 5*hour, step: minute}.push(t, n, id)
	}
	require.NoError(t, n.ing.Compact(ctx))
	gone := n.ing.Blocks("gone")
	require.Len(t, gone, 1)
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.calls == 2 // Both blocks in flight.
	}, 10*time.Second, time.Millisecond)

	require.NoError(t, n.ing.DeleteTenant(ctx, "gone"))
	require.NoError(t, n.fl.DeleteTenant(ctx, "gone"))
	w.setGate(nil)
	close(gate)
	require.NoError(t, n.fl.Wait(ctx))
	require.False(t, n.fl.Flushed("gone", gone[0]))
	tenants, err := s.Tenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"kept"}, tenants)
	require.InDelta(t, 1, metric(t, n.flReg, "hearth_ingester_flushed_blocks_total"), 0)
	require.InDelta(t, 0, metric(t, n.flReg, "hearth_ingester_flush_queue_length"), 0)
}

func TestWaitNeedsARunningFlusher(t *testing.T) {
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("f", flag.PanicOnError))
	f, err := New(Deps{Config: cfg, Store: newStore(t, newPebble(t)), Logger: discard(), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.ErrorIs(t, f.Wait(context.Background()), ErrNotRunning)
}

// TestInvalidSeriesAreDropped makes the store refuse one series as
// invalid: the rest of the block is flushed and the block is marked.
func TestInvalidSeriesAreDropped(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, newPebble(t))
	n := startNode(t, t.TempDir(), refuseJob{next: s, job: "j3"})
	data{series: 5, from: base, to: base + 5*hour, step: minute}.push(t, n, "t1")
	require.NoError(t, n.ing.Compact(ctx))
	require.NoError(t, n.fl.Wait(ctx))
	require.True(t, n.fl.Flushed("t1", n.ing.Blocks("t1")[0]))
	require.Len(t, stored(t, s, "t1"), 4)
	require.InDelta(t, 1, metric(t, n.flReg, "hearth_ingester_flush_dropped_series_total"), 0)
	require.InDelta(t, 4, metric(t, n.flReg, "hearth_ingester_flushed_series_total"), 0)
}

// refuseJob refuses, as invalid, any batch holding the series job=job.
type refuseJob struct {
	next SeriesWriter
	job  string
}

func (r refuseJob) WriteSeries(ctx context.Context, id string, batch []chunk.SeriesChunks) (chunk.WriteStats, error) {
	for _, s := range batch {
		if s.Labels.Get("job") == r.job {
			return chunk.WriteStats{}, chunk.ErrInvalidChunk
		}
	}
	return r.next.WriteSeries(ctx, id, batch)
}

// TestStatusShowsTheBacklog: while the store is down, Status shows the
// block waiting, the failures in a row and the last error; once the store
// is back, the backlog is gone and the failure count reset.
func TestStatusShowsTheBacklog(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, newPebble(t))
	var down atomic.Bool
	down.Store(true)
	w := &faultyWriter{next: s, fail: func(int) bool { return down.Load() }}
	n := startNode(t, t.TempDir(), w)
	require.Equal(t, Status{}, n.fl.Status())

	d := data{series: 10, from: base, to: base + 3*hour + 5*minute, step: 5 * minute}
	d.push(t, n, "t1")
	require.NoError(t, n.ing.Compact(ctx))
	require.Eventually(t, func() bool { return n.fl.Status().ConsecutiveFailures >= 2 }, 10*time.Second, time.Millisecond)
	st := n.fl.Status()
	require.Equal(t, 1, st.QueueLength)
	require.Equal(t, 1, st.Waiting+st.InProgress)
	require.Positive(t, st.OldestUnflushedAgeSeconds)
	require.Contains(t, st.LastError, "of tenant t1: ")
	require.Contains(t, st.LastError, "store unavailable")
	require.NotNil(t, st.LastErrorTime)
	require.Nil(t, st.LastFlushTime)

	down.Store(false)
	require.NoError(t, n.fl.Wait(ctx))
	st = n.fl.Status()
	require.Zero(t, st.QueueLength)
	require.Zero(t, st.ConsecutiveFailures)
	require.NotNil(t, st.LastFlushTime)
	require.NotEmpty(t, st.LastError, "the last error stays, with its time")
}
