package ingester

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Admission: the checks a push passes before it touches a TSDB (and, when
// the push opens a new tenant, tenantDBs.checkTenantLimit). Each
// refusal is retryable (gRPC Unavailable, HTTP 5xx at the distributor) and
// counted in hearth_ingester_rejected_pushes_total by reason.

// Reasons of hearth_ingester_rejected_pushes_total, besides reasonWALFailed.
const (
	reasonInflight  = "max_inflight_push_requests"
	reasonTenants   = "max_tenants"
	reasonDiskSpace = "min_free_disk_space"
)

// diskCheckInterval is how long a reading of the free disk space is
// trusted: a push costs no statfs(2), and the disk would have to fill
// -ingester.min-free-disk-space-bytes within a second to get past it.
const diskCheckInterval = time.Second

// instanceLimitError says a push was refused because this ingester is at
// one of its instance limits.
type instanceLimitError struct {
	what   string // "push requests in flight", "tenants"
	flag   string
	limit  int
	tenant tenant.ID
}

func (e *instanceLimitError) Error() string {
	return fmt.Sprintf("this ingester holds its limit of %d %s (-%s); push of tenant %q refused, retry later", e.limit, e.what, e.flag, e.tenant)
}

// diskSpaceError says a push was refused because the ingester's disk is
// nearly full.
type diskSpaceError struct {
	dir        string
	free, min  int64
	tenantName tenant.ID
}

func (e *diskSpaceError) Error() string {
	return fmt.Sprintf("only %d bytes are free on the disk of %s, less than -ingester.min-free-disk-space-bytes=%d: writes are refused until space is freed; push of tenant %q refused, retry later", e.free, e.dir, e.min, e.tenantName)
}

// admitPush counts a push in flight and refuses it over the in-flight limit
// or when the disk is nearly full. A nil error must be paired with a call
// of endPush.
func (i *Ingester) admitPush(t tenant.ID) error {
	n := i.inflightPushes.Add(1)
	if limit := i.cfg.InstanceLimits.MaxInflightPushRequests; limit > 0 && n > int64(limit) {
		i.inflightPushes.Add(-1)
		i.metrics.rejectedPushes.WithLabelValues(reasonInflight).Inc()
		return &instanceLimitError{what: "push requests in flight", flag: "ingester.instance-limits.max-inflight-push-requests", limit: limit, tenant: t}
	}
	free, low, changed := i.disk.low(i.now())
	if changed {
		if low {
			i.logger.Warn("The disk is nearly full: refusing writes until space is freed; reads go on",
				"dir", i.cfg.Dir, "free_bytes", free, "flag", "-ingester.min-free-disk-space-bytes", "min_free_bytes", i.cfg.MinFreeDiskSpaceBytes)
		} else {
			i.logger.Info("The disk has space again: accepting writes", "dir", i.cfg.Dir, "free_bytes", free)
		}
	}
	if low {
		i.inflightPushes.Add(-1)
		i.metrics.rejectedPushes.WithLabelValues(reasonDiskSpace).Inc()
		return &diskSpaceError{dir: i.cfg.Dir, free: free, min: i.cfg.MinFreeDiskSpaceBytes, tenantName: t}
	}
	return nil
}

// endPush ends a push admitted by admitPush.
func (i *Ingester) endPush() { i.inflightPushes.Add(-1) }

// diskGuard tells whether the filesystem of dir has less than min bytes
// free, reading it at most once per diskCheckInterval.
type diskGuard struct {
	dir  string
	min  int64
	next atomic.Int64 // when to read again, Unix nanoseconds
	free atomic.Int64 // bytes free at the last reading; -1: unknown
}

func newDiskGuard(dir string, min int64) *diskGuard {
	g := &diskGuard{dir: dir, min: min}
	g.free.Store(-1)
	return g
}

// low reports the free bytes and whether they are below the minimum; an
// unreadable free space counts as enough. changed is true for the one
// caller that read a new state.
func (g *diskGuard) low(now time.Time) (free int64, low, changed bool) {
	if g.min <= 0 {
		return 0, false, false
	}
	ns := now.UnixNano()
	if next := g.next.Load(); ns >= next && g.next.CompareAndSwap(next, ns+int64(diskCheckInterval)) {
		free, err := diskFree(g.dir)
		if err != nil {
			free = -1
		}
		old := g.free.Swap(free)
		low := free >= 0 && free < g.min
		return free, low, low != (old >= 0 && old < g.min)
	}
	free = g.free.Load()
	return free, free >= 0 && free < g.min, false
}
