package ingester

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestWALSyncerFollowsSegments: the syncer fsyncs the newest segment and
// moves on when the WAL starts a new one; a missing WBL is nothing to sync.
func TestWALSyncerFollowsSegments(t *testing.T) {
	dir := t.TempDir()
	wal := filepath.Join(dir, "wal")
	require.NoError(t, os.MkdirAll(wal, 0o755))
	touch := func(name string) { require.NoError(t, os.WriteFile(filepath.Join(wal, name), []byte("x"), 0o644)) }
	touch("00000003")
	touch("00000004")
	touch("checkpoint.00000002") // Not a segment.

	s := newWALSyncer(dir)
	t.Cleanup(s.close)
	require.NoError(t, s.sync())
	require.Equal(t, 4, s.segments[wal].index)
	require.NotContains(t, s.segments, filepath.Join(dir, "wbl"))

	touch("00000005")
	touch("00000006")
	require.NoError(t, s.sync())
	require.Equal(t, 6, s.segments[wal].index)

	// Concurrent callers share fsyncs; each returns once synced.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { require.NoError(t, s.sync()) })
	}
	wg.Wait()
	require.Equal(t, s.requested.Load(), s.synced)
}

func TestWALFsyncPushesReplay(t *testing.T) {
	dir := t.TempDir()
	o := limits.NewOverrides(defaultLimits())
	fsync := withConfig(func(c *Config) { c.WALFsync = true })
	env := startIngester(t, dir, o, fsync)
	for k := range 10 {
		push(t, env, "t", withSamples(series("__name__", "up", "job", "a"), ingesterpb.Sample{TimestampMs: int64(k+1) * 1000, Value: float64(k)}))
	}
	tdb := env.ing.dbs.get("t")
	require.Equal(t, uint64(10), tdb.syncer.synced)
	require.Len(t, tdb.syncer.segments, 1, "the WAL only: no WBL without an out-of-order window")
	env.stop()

	env = startIngester(t, dir, o, fsync)
	got, _ := queryAll(t, env, "t", allSeries())
	require.Len(t, got["up/a"].samples, 10)
}
