package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestDiskFullPushIsRetryable puts the all-in-one's ingester on a small
// tmpfs and fills it: remote write gets a 503 (Prometheus retries it),
// pushes succeed again once space is freed, and after a restart every
// acknowledged sample is queryable.
func TestDiskFullPushIsRetryable(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=96m"); err != nil {
		t.Skipf("this test mounts a size-limited tmpfs, which needs root with CAP_SYS_ADMIN: %v", err)
	}
	t.Cleanup(func() { require.NoError(t, syscall.Unmount(mnt, 0)) })
	flags := []string{
		"-storage.dir=" + t.TempDir(),
		"-ingester.dir=" + filepath.Join(mnt, "ingester"),
		// Off: the push reaches the WAL, whose write fails.
		"-ingester.min-free-disk-space-bytes=0",
	}
	p := startProcess(t, TargetAll, flags...)
	now := time.Now()
	batch := func(k int) *prompb.WriteRequest {
		return seriesRequest(300, now.Add(time.Duration(k)*time.Second), prompb.Label{Name: "batch", Value: fmt.Sprint(k)})
	}
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-a", batch(0)).StatusCode)

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	require.NoError(t, err)
	for err == nil {
		_, err = f.Write(make([]byte, 1<<20))
	}
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, f.Close())
	require.Equal(t, http.StatusServiceUnavailable, rawPush(t, p.app.HTTPAddr(), "team-a", batch(1)).StatusCode)

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool {
		return rawPush(t, p.app.HTTPAddr(), "team-a", batch(2)).StatusCode == http.StatusNoContent
	}, 20*time.Second, 50*time.Millisecond)

	p.shutdown()
	p = startProcess(t, TargetAll, flags...)
	for _, k := range []int{0, 2} {
		res, _, _, err := queryAPI(t, p.app.HTTPAddr(), "team-a").Query(context.Background(), fmt.Sprintf(`count(limited{batch="%d"})`, k), now.Add(5*time.Second))
		require.NoError(t, err)
		vec, ok := res.(model.Vector)
		require.True(t, ok, "%T", res)
		require.Len(t, vec, 1, "batch %d", k)
		require.Equal(t, model.SampleValue(300), vec[0].Value, "batch %d", k)
	}
}
