//go:build integration && fault

package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends (after the processes registered later have been
// stopped). It skips the test when mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	require.NoError(t, os.Mkdir(dir, 0o700))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("Skipping: mounting a %s tmpfs as the ingester's directory needs root (CAP_SYS_ADMIN): mount: %v: %s", size, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes zeros to path until the file system is full and returns the
// bytes written.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		require.NoError(t, err)
	}
}

// diskMetrics are the ingester's write-failure metrics, for logs.
var diskMetrics = []string{
	"hearth_ingester_append_failures_total",
	"hearth_ingester_tsdb_wal_writes_failed_total",
	"hearth_ingester_ingested_samples_total",
}

// TestFaultDiskFull runs the all-in-one (RF=1) with its ingester directory
// (WAL, head chunks, blocks) on a 64 MiB tmpfs and fills the tmpfs under
// load: pushes fail with a retryable 5xx and the ingester says why in its
// log; once the filler is removed pushes succeed again, and every
// acknowledged sample is queryable, also after a SIGKILL and a restart
// (WAL replay). Twice: with the free-space guard, which refuses pushes
// before the disk is full, and without it, where the WAL write itself
// fails.
func TestFaultDiskFull(t *testing.T) {
	tests := map[string]struct {
		minFree string
		// walFails: the WAL write fails (no guard); else the guard refuses.
		walFails bool
		logLine  string
	}{
		"free-space guard": {minFree: "16777216", logLine: "The disk is nearly full: refusing writes"},
		"WAL write fails":  {minFree: "0", walFails: true, logLine: "no space left on device"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			testDiskFull(t, tc.minFree, tc.walFails, tc.logLine)
		})
	}
}

func testDiskFull(t *testing.T, minFree string, walFails bool, logLine string) {
	begin := beginFault(t)
	dir := mountTmpfs(t, "64m")
	p := newProcess(t, "all-in-one", "hearth", t.TempDir(), "-target=all", "-ingester.dir="+dir, "-ingester.min-free-disk-space-bytes="+minFree)
	p.start(t)
	p.waitReady(t)
	run := startChecker(t, begin, p.httpAddr, p.httpAddr)
	run.waitAcknowledged(30)

	before := run.c.Progress()
	filler := filepath.Join(dir, "filler")
	t.Logf("Filled the ingester's file system with %d MiB", fill(t, filler)>>20)
	require.Eventuallyf(t, func() bool {
		now := run.c.Progress()
		return now.Responses5xx > before.Responses5xx || now.PushesFailed > before.PushesFailed || now.TransportErrors > before.TransportErrors
	}, time.Minute, 10*time.Millisecond, "pushes kept succeeding on a full disk: %+v", run.c.Progress())
	// The disk stays full for a few more attempts.
	require.Eventuallyf(t, func() bool {
		now := run.c.Progress()
		return now.Responses5xx+now.PushesFailed+now.TransportErrors >= before.Responses5xx+before.PushesFailed+before.TransportErrors+6
	}, time.Minute, 10*time.Millisecond, "pushes on a full disk: %+v", run.c.Progress())
	full := run.c.Progress()
	t.Logf("Pushes on a full disk: %+v; %s", full, p.metrics(t, diskMetrics...))
	require.Equal(t, before.PushesFailed, full.PushesFailed, "a push on a full disk was refused with a 4xx (not retryable)")
	require.Equal(t, before.TransportErrors, full.TransportErrors, "a push on a full disk got no answer (did the process die?)")
	// The guard reads the free space once a second: a WAL write may fail
	// before it notices a disk filled at once, as here.
	if walFails {
		require.Positive(t, p.metric(t, "hearth_ingester_tsdb_wal_writes_failed_total"), "no failed WAL write counted")
	}
	lines := p.logLines(logLine)
	require.NotEmptyf(t, lines, "the process never logged %q", logLine)
	t.Logf("%d log lines say %q, the first: %s", len(lines), logLine, lines[0])
	var ingesterLines []string
	for _, l := range p.logLines("component=ingester ") {
		if !strings.Contains(l, "level=INFO") {
			ingesterLines = append(ingesterLines, l)
		}
	}
	if len(ingesterLines) > 0 {
		t.Logf("Warnings and errors of the ingester component: %q", ingesterLines)
	} else {
		t.Logf("The ingester component logged no warning or error itself")
	}

	require.NoError(t, os.Remove(filler))
	t.Logf("Removed the filler")
	run.waitAcknowledged(30)
	t.Logf("Pushes succeed again: %+v; %s", run.c.Progress(), p.metrics(t, diskMetrics...))

	s := run.verify()
	requireNothingLost(t, s)

	p.kill(t)
	p.start(t)
	p.waitReady(t)
	t.Logf("Restarted after SIGKILL: %s", p.metrics(t, "hearth_ingester_memory_series", "hearth_ingester_tsdb_wal_corruptions_total"))
	s = run.verify()
	t.Logf("Read back after the WAL replay")
	run.report(s)
	requireNothingLost(t, s)
	require.Positive(t, s.Responses5xx, "no push got a 5xx on the full disk")
}
