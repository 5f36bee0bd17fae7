package ingester

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// mountTmpfs mounts a tmpfs of the given size ("96m") on a new directory
// and unmounts it when the test ends. It skips the test where mounting is
// not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("this test mounts a size-limited tmpfs, which needs root with CAP_SYS_ADMIN: %v", err)
	}
	t.Cleanup(func() { require.NoError(t, syscall.Unmount(dir, 0)) })
	return dir
}

// fillDisk writes a file in dir until its filesystem is full and returns a
// function that deletes the file.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	require.NoError(t, err)
	buf := make([]byte, 1<<20)
	for {
		_, err := f.Write(buf)
		if err == nil {
			continue
		}
		require.ErrorIs(t, err, syscall.ENOSPC)
		break
	}
	require.NoError(t, f.Close())
	return func() { require.NoError(t, os.Remove(name)) }
}

// bigBatch returns n new series of one sample each, labelled batch=<batch>:
// their WAL series record is larger than a 32 KiB WAL page, so a write
// failure tears it.
func bigBatch(batch, n int, ts int64) *ingesterpb.PushRequest {
	req := &ingesterpb.PushRequest{}
	pad := strings.Repeat("x", 100)
	for k := range n {
		s := series("__name__", "disk_full_test", "batch", fmt.Sprint(batch), "i", fmt.Sprint(k), "pad", pad)
		s.Samples = []ingesterpb.Sample{{TimestampMs: ts, Value: float64(k)}}
		req.Timeseries = append(req.Timeseries, s)
	}
	return req
}

// samplesByLabel counts tenant id's samples by the value of label name.
func samplesByLabel(t *testing.T, env *testEnv, id, name string) map[string]int {
	t.Helper()
	stream, err := env.client.QueryStream(ctxFor(id), allSeries())
	require.NoError(t, err)
	out := map[string]int{}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		for _, cs := range msg.Series {
			r := &result{}
			for _, c := range cs.Chunks {
				decodeChunk(t, c, r)
			}
			for _, l := range cs.Labels {
				if l.Name == name {
					out[l.Value] += len(r.samples)
				}
			}
		}
	}
}

// TestDiskFull fills the ingester's disk: pushes fail with a retryable
// error, the ingester recovers once space is freed, and every acknowledged
// sample is there after a restart.
func TestDiskFull(t *testing.T) {
	tests := map[string]struct {
		minFree int64
		// wantErr is in the message of the push refused on the full disk.
		wantErr []string
		// walFailures: the push reached the WAL, whose write failed.
		walFailures float64
		reason      string
	}{
		"the WAL write fails (free-space guard off)": {
			minFree:     0,
			wantErr:     []string{`writing the WAL of tenant "t"`, "/t/wal", "no space left on device", "retry later"},
			walFailures: 1,
			reason:      reasonWALFailed,
		},
		"the free-space guard refuses first": {
			minFree:     1 << 20,
			wantErr:     []string{"-ingester.min-free-disk-space-bytes=1048576", `tenant "t"`, "retry later"},
			walFailures: 0,
			reason:      reasonDiskSpace,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mnt := mountTmpfs(t, "96m")
			dir := filepath.Join(mnt, "ingester")
			o := limits.NewOverrides(defaultLimits())
			var clock atomic.Int64 // Seconds added to the real time.
			now := func() time.Time { return time.Now().Add(time.Duration(clock.Load()) * time.Second) }
			opts := []envOption{withNow(now), withConfig(func(c *Config) { c.MinFreeDiskSpaceBytes = tc.minFree })}
			env := startIngester(t, dir, o, opts...)
			ctx := ctxFor("t")
			// Recent samples: blocks older than the retention period
			// would be deleted right after the compaction.
			base := time.Now().Add(-time.Hour).UnixMilli()

			_, err := env.client.Push(ctx, bigBatch(0, 500, base+1000))
			require.NoError(t, err)

			free := fillDisk(t, mnt)
			clock.Add(2) // The free-space reading expires.
			_, err = env.client.Push(ctx, bigBatch(1, 500, base+2000))
			require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
			// Still full: refused again, before reaching the WAL.
			_, err = env.client.Push(ctx, bigBatch(2, 500, base+2000))
			require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			// Compacting the head on the full disk fails without harm.
			require.Error(t, env.ing.ForceCompact(context.Background()))
			require.Equal(t, tc.walFailures, metricValue(t, env.reg, "hearth_ingester_wal_write_failures_total", "tenant", "t"))
			require.GreaterOrEqual(t, metricValue(t, env.reg, "hearth_ingester_rejected_pushes_total", "reason", tc.reason), 1.0)

			// Space is back: pushes succeed again (after the WAL's
			// reopening, when it failed).
			free()
			clock.Add(2)
			require.Eventually(t, func() bool {
				_, err := env.client.Push(ctx, bigBatch(3, 500, base+3000))
				return err == nil
			}, 20*time.Second, 50*time.Millisecond)
			_, err = env.client.Push(ctx, bigBatch(4, 500, base+4000))
			require.NoError(t, err)
			acknowledged := map[string]int{"0": 500, "3": 500, "4": 500}
			requireSamples := func(env *testEnv) {
				t.Helper()
				got := samplesByLabel(t, env, "t", "batch")
				for batch, n := range acknowledged {
					require.Equal(t, n, got[batch], "samples of batch %s in %v", batch, got)
				}
			}
			requireSamples(env)

			// A restart replays a consistent WAL: no repair needed.
			env.stop()
			env = startIngester(t, dir, o, opts...)
			requireSamples(env)
			require.Zero(t, metricValue(t, env.reg, "hearth_ingester_tsdb_wal_corruptions_total", "tenant", "t"))

			// The head compacts into blocks once there is room; the data
			// is the same, from the blocks, after another restart.
			require.NoError(t, env.ing.ForceCompact(context.Background()))
			require.NotEmpty(t, env.ing.Blocks("t"))
			env.stop()
			env = startIngester(t, dir, o, opts...)
			requireSamples(env)
		})
	}
}

// TestOutOfOrderWBLWriteFailure: the TSDB only logs a failed write to the
// out-of-order WBL, and its commit succeeds; the push must fail all the
// same, or its out-of-order sample would be lost at the next restart.
func TestOutOfOrderWBLWriteFailure(t *testing.T) {
	mnt := mountTmpfs(t, "96m")
	dir := filepath.Join(mnt, "ingester")
	l := defaultLimits()
	l.OutOfOrderTimeWindow = model.Duration(time.Hour)
	o := limits.NewOverrides(l)
	env := startIngester(t, dir, o, withConfig(func(c *Config) { c.MinFreeDiskSpaceBytes = 0 }))
	base := time.Now().Add(-time.Minute).UnixMilli()
	var acked []int64
	pushAt := func(ts int64) error {
		req := &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{
			withSamples(series("__name__", "ooo", "job", "a"), ingesterpb.Sample{TimestampMs: ts, Value: float64(ts)}),
		}}
		_, err := env.client.Push(ctxFor("t"), req)
		if err == nil {
			acked = append(acked, ts)
		}
		return err
	}
	require.NoError(t, pushAt(base))

	free := fillDisk(t, mnt)
	// A small in-order WAL record fits in the WAL file's last allocated
	// page; the WBL's first page cannot be allocated.
	err := pushAt(base - 1000)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.ErrorContains(t, err, "out-of-order WBL")
	free()
	require.Eventually(t, func() bool { return pushAt(base-2000) == nil }, 20*time.Second, 50*time.Millisecond)

	env.stop()
	env = startIngester(t, dir, o)
	got, _ := queryAll(t, env, "t", allSeries())
	var stored []int64
	for _, s := range got["ooo/a"].samples {
		stored = append(stored, s.TimestampMs)
	}
	for _, ts := range acked {
		require.Contains(t, stored, ts)
	}
}

// TestDiskFullConcurrentPushes: pushers of one tenant keep going while the
// disk fills up and is freed; every push that was acknowledged is whole
// after a restart, whichever pushes overlapped a failed WAL write.
func TestDiskFullConcurrentPushes(t *testing.T) {
	mnt := mountTmpfs(t, "96m")
	dir := filepath.Join(mnt, "ingester")
	o := limits.NewOverrides(defaultLimits())
	cfg := withConfig(func(c *Config) { c.MinFreeDiskSpaceBytes = 0 })
	env := startIngester(t, dir, o, cfg)
	base := time.Now().Add(-time.Hour).UnixMilli()

	var (
		acked, failed atomic.Int64
		mu            sync.Mutex
		ackedBatches  []int
		stop          = make(chan struct{})
		wg            sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := g*100_000 + n
				_, err := env.client.Push(ctxFor("t"), bigBatch(batch, 300, base+int64(n)))
				if err != nil {
					failed.Add(1)
					continue
				}
				acked.Add(1)
				mu.Lock()
				ackedBatches = append(ackedBatches, batch)
				mu.Unlock()
			}
		})
	}
	waitFor := func(c *atomic.Int64, n int64) {
		t.Helper()
		target := c.Load() + n
		require.Eventually(t, func() bool { return c.Load() >= target }, 30*time.Second, time.Millisecond)
	}
	waitFor(&acked, 20)
	free := fillDisk(t, mnt)
	waitFor(&failed, 20)
	free()
	waitFor(&acked, 20)
	close(stop)
	wg.Wait()

	env.stop()
	env = startIngester(t, dir, o, cfg)
	got := samplesByLabel(t, env, "t", "batch")
	for _, b := range ackedBatches {
		require.Equal(t, 300, got[fmt.Sprint(b)], "acknowledged batch %d", b)
	}
	t.Logf("%d pushes acknowledged, %d refused", acked.Load(), failed.Load())
}
