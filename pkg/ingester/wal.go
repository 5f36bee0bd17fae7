package ingester

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/storage"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// What the TSDB does when a WAL write fails (Prometheus v0.316, tsdb/
// head_append.go Commit and tsdb/wlog/wlog.go log):
//
//   - Commit logs the push's records, and on a failure rolls the push back
//     (its samples never reach the head; its new series stay in memory) and
//     returns "write to WAL: ...".
//   - The WAL buffers one 32 KiB page. A record that fits in the page stays
//     in the buffer when its write fails, and goes to disk with the next
//     write that succeeds: a refused push may reappear after a restart.
//   - A record larger than what is left of the page is split; when the
//     write of a full page fails in the middle of a record, the rest of the
//     record is dropped, and the next successful write lands after a torn
//     record. On the next open the TSDB finds the tear, "repairs" the WAL by
//     cutting it there and deleting every later segment: every push
//     acknowledged after the failure would be lost.
//   - A failed write to the out-of-order WBL is only logged: Commit
//     succeeds although the out-of-order samples are only in the WBL's page
//     buffer (the WAL replay drops out-of-order samples). They reach the
//     disk with the next WBL write that succeeds, or never if the process
//     stops first.
//
// So after any failed write the ingester acknowledges nothing more for the
// tenant: it refuses the tenant's pushes (gRPC Unavailable, retried by the
// sender) until it has closed and reopened the tenant's TSDB, which replays
// the WAL and cuts the torn tail, holding only refused pushes. It reopens
// once the disk has room for the repair, which rewrites the damaged segment.
// A push whose commit succeeded while another push's write was failing is
// refused too: the TSDB counts failed writes under the WAL's lock, so a
// commit that reads a zero count after its own write knows that no write
// before it failed.

// The TSDB's counters of failed WAL and WBL writes, by the name the TSDB
// registers them under (Prometheus v0.316: tsdb/wlog/wlog.go's
// "writes_failed_total", prefixed in tsdb/db.go). The WAL's is registered
// when the TSDB opens; the WBL's when the WBL is created, at the open of a
// TSDB with an out-of-order window (or a WBL on disk), or when a window is
// first applied. tenantDBs.open and applyLimits fail when the counter
// they expect is not watched: a Prometheus upgrade that renames the
// counters (or gives them labels) fails every tenant's open and
// TestWALWatchFindsFailureCounters, instead of letting pushes after a
// failed write be acknowledged and lost. TestFailureCounter checks how
// they are found.
const (
	walWritesFailedCounter = "prometheus_tsdb_wal_writes_failed_total"
	wblWritesFailedCounter = "prometheus_tsdb_out_of_order_wbl_writes_failed_total"
)

// walWatch is the Registerer a tenant's TSDB registers its metrics with. It
// passes every collector on to the tenant's registry and keeps the
// counters of failed WAL and WBL writes.
type walWatch struct {
	prometheus.Registerer
	mu       sync.Mutex // serialises registrations; guards probe
	counters atomic.Pointer[[]watchedCounter]
	// probe finds the failure counters among the collectors. Made on the
	// first registration, dropped by checkWatching (after the TSDB's open,
	// and in every maintenance cycle): a tenant keeps none (about 5 KB)
	// in between.
	probe *counterProbe
}

// watchedCounter is one of the TSDB's failure counters: m is the live
// counter (its Write reads the current value).
type watchedCounter struct {
	name string
	m    prometheus.Metric
}

var _ prometheus.Registerer = (*walWatch)(nil)

func newWALWatch(reg prometheus.Registerer) *walWatch {
	return &walWatch{Registerer: reg}
}

// Register registers c with the tenant's registry and watches it when it
// is a WAL or WBL failure counter. The WBL registers late, when an
// out-of-order window is first applied.
func (w *walWatch) Register(c prometheus.Collector) error {
	if err := w.Registerer.Register(c); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watching() == 2 {
		return nil // Both counters found.
	}
	if w.probe == nil {
		w.probe = newCounterProbe()
	}
	name, m := failureCounter(c, w.probe)
	if m == nil {
		return nil
	}
	var next []watchedCounter
	if old := w.counters.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, watchedCounter{name: name, m: m})
	w.counters.Store(&next)
	return nil
}

// MustRegister registers cs, panicking on a duplicate as
// prometheus.Registry does: it is the TSDB's programming error.
func (w *walWatch) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := w.Register(c); err != nil {
			panic(err)
		}
	}
}

// failureCounter returns c's name and metric when c is one of the failure
// counters, a collector of one metric. The metric is the live counter: its
// Write reads the current value.
func failureCounter(c prometheus.Collector, probe *counterProbe) (string, prometheus.Metric) {
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	var all []*prometheus.Desc
	for d := range descs {
		all = append(all, d)
	}
	if len(all) != 1 {
		return "", nil
	}
	name := probe.name(all[0])
	if name == "" {
		return "", nil
	}
	metrics := make(chan prometheus.Metric)
	go func() {
		c.Collect(metrics)
		close(metrics)
	}()
	var out prometheus.Metric
	for m := range metrics {
		out = m
	}
	return name, out
}

// counterProbe tells the failure counters by name. A Desc has no name
// accessor (its String is for debugging), so the name is compared by the
// rule a registry enforces: it refuses a descriptor with the name of a
// registered one unless both have the same help and labels. The probe
// registry holds a descriptor of each failure counter's name, with a help
// of its own: registering a descriptor there fails exactly when it has one
// of those names. Only descriptors are registered, never the TSDB's
// collectors, whose functions may not work while the TSDB opens.
type counterProbe struct {
	both *prometheus.Registry // a descriptor of each name
	wal  *prometheus.Desc     // the WAL's
}

func newCounterProbe() *counterProbe {
	const help = "Probe for the TSDB's counter of failed writes."
	p := &counterProbe{both: prometheus.NewRegistry(), wal: prometheus.NewDesc(walWritesFailedCounter, help, nil, nil)}
	p.both.MustRegister(descCollector{p.wal}, descCollector{prometheus.NewDesc(wblWritesFailedCounter, help, nil, nil)})
	return p
}

// name returns which of the failure counters d describes, "" for any
// other metric.
func (p *counterProbe) name(d *prometheus.Desc) string {
	if d.Err() != nil {
		return ""
	}
	if err := p.both.Register(descCollector{d}); err == nil {
		p.both.Unregister(descCollector{d})
		return ""
	}
	// A failure counter (twice per TSDB): which one?
	r := prometheus.NewRegistry()
	r.MustRegister(descCollector{p.wal})
	if r.Register(descCollector{d}) != nil {
		return walWritesFailedCounter
	}
	return wblWritesFailedCounter
}

// descCollector describes one metric and collects nothing.
type descCollector struct{ d *prometheus.Desc }

func (c descCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.d }
func (c descCollector) Collect(chan<- prometheus.Metric)    {}

// watches reports whether the failure counter name is watched.
func (w *walWatch) watches(name string) bool {
	if p := w.counters.Load(); p != nil {
		for _, c := range *p {
			if c.name == name {
				return true
			}
		}
	}
	return false
}

// errCounterMissing says the TSDB registered no counter of failed writes
// under the name the ingester watches (see walWritesFailedCounter).
type errCounterMissing struct{ name string }

func (e *errCounterMissing) Error() string {
	return fmt.Sprintf("the TSDB registered no counter %q (did a Prometheus upgrade rename it?): without it, pushes after a failed WAL write could be acknowledged and then lost", e.name)
}

// checkWatching fails when the WAL's failure counter, or with a WBL
// (wbl) the WBL's, is not watched. It is called once the TSDB has
// registered its metrics (after its open, and after applying limits) and
// drops the probe.
func (w *walWatch) checkWatching(wbl bool) error {
	w.mu.Lock()
	w.probe = nil
	w.mu.Unlock()
	if !w.watches(walWritesFailedCounter) {
		return &errCounterMissing{name: walWritesFailedCounter}
	}
	if wbl && !w.watches(wblWritesFailedCounter) {
		return &errCounterMissing{name: wblWritesFailedCounter}
	}
	return nil
}

// watching returns how many failure counters are watched.
func (w *walWatch) watching() int {
	if p := w.counters.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// failed reports whether a WAL or WBL write failed since the DB opened.
func (w *walWatch) failed() bool {
	p := w.counters.Load()
	if p == nil {
		return false
	}
	for _, c := range *p {
		var d dto.Metric
		if err := c.m.Write(&d); err != nil || d.GetCounter().GetValue() > 0 {
			return true
		}
	}
	return false
}

// errConcurrentWALFailure is the cause of a refused push whose own commit
// succeeded but came after a failed write.
var errConcurrentWALFailure = errors.New("the TSDB counted a failed write to the WAL or the out-of-order WBL (this push's out-of-order samples, or another push's write before this one's; see the TSDB's log)")

// commit commits a push, and with -ingester.wal-fsync fsyncs the WAL. It
// fails when the push's WAL write (or fsync) failed, or when any write to
// the tenant's WAL failed before it: nothing is acknowledged after a
// failed write until the WAL has been reopened.
//
// A failed WAL write fails its own commit, which records it in walErr
// before it counts itself out of t.commits. A commit that succeeded with
// no other commit in flight therefore sees any earlier failure in walErr;
// otherwise, or when the tenant has a WBL (whose failures fail no commit),
// it reads the TSDB's failure counters, which cost a few allocations.
func (s *tenantDBs) commit(t *tenantDB, app storage.AppenderV2) error {
	t.commits.Add(1)
	err := app.Commit()
	if err != nil {
		err = s.walFailed(t, err)
	}
	others := t.commits.Add(-1)
	if err != nil {
		return err
	}
	if werr := t.walErr.Load(); werr != nil {
		s.metrics.walWriteFailures.WithLabelValues(string(t.id)).Inc()
		return werr
	}
	if (others > 0 || t.wal.watching() > 1) && t.wal.failed() {
		return s.walFailed(t, errConcurrentWALFailure)
	}
	if t.syncer != nil {
		if err := t.syncer.sync(); err != nil {
			return s.walFailed(t, err)
		}
	}
	return nil
}

// walFailed records a failed WAL write (or fsync) of t, which fails a
// push: the first one refuses t's pushes until its TSDB is reopened. It
// returns the push's error.
func (s *tenantDBs) walFailed(t *tenantDB, err error) error {
	s.metrics.walWriteFailures.WithLabelValues(string(t.id)).Inc()
	werr := &walError{tenant: t.id, dir: filepath.Join(t.dir, "wal"), err: err}
	if t.walErr.CompareAndSwap(nil, werr) {
		s.logger.Error("Writing the WAL failed; refusing the tenant's writes until its TSDB is reopened",
			"tenant", t.id, "dir", werr.dir, "err", err)
		s.requestWALRecovery()
	}
	return werr
}

// checkWAL refuses a push to a tenant whose WAL write failed and that is
// not reopened yet.
func (s *tenantDBs) checkWAL(t *tenantDB) error {
	werr := t.walErr.Load()
	if werr == nil {
		return nil
	}
	s.metrics.rejectedPushes.WithLabelValues(reasonWALFailed).Inc()
	s.requestWALRecovery()
	return werr
}

// requestWALRecovery asks the service loop to reopen failed WALs.
func (s *tenantDBs) requestWALRecovery() {
	select {
	case s.walRecovery <- struct{}{}:
	default:
	}
}

// walRecoveryState rate-limits recovery attempts and their logs.
type walRecoveryState struct {
	lastAttempt time.Time
	lastLog     time.Time
}

const (
	// walRecoveryInterval spaces attempts to reopen failed WALs.
	walRecoveryInterval = time.Second
	// walWaitLogInterval spaces the logs saying a reopen waits for space
	// or failed.
	walWaitLogInterval = time.Minute
	// walRepairMargin is free space wanted besides the segments the
	// repair rewrites (the new segment, head chunk files, the lock file).
	walRepairMargin = 4 << 20
)

// recoverWALs reopens the TSDB of every tenant whose WAL write failed, when
// the disk has room for the repair. The service loop calls it.
func (s *tenantDBs) recoverWALs() {
	now := s.now()
	if now.Sub(s.walRecovered.lastAttempt) < walRecoveryInterval {
		return
	}
	s.walRecovered.lastAttempt = now
	for _, t := range s.snapshot() {
		if t.walErr.Load() == nil {
			continue
		}
		need := repairSpace(t.dir) + walRepairMargin + s.cfg.MinFreeDiskSpaceBytes
		free, err := diskFree(t.dir)
		if err == nil && free < need {
			if now.Sub(s.walRecovered.lastLog) >= walWaitLogInterval {
				s.walRecovered.lastLog = now
				s.logger.Warn("Waiting for free disk space to reopen a tenant TSDB whose WAL write failed; its writes are refused meanwhile",
					"tenant", t.id, "dir", t.dir, "free_bytes", free, "needed_bytes", need)
			}
			continue
		}
		s.reopen(t)
	}
}

// repairSpace estimates the disk space the TSDB's WAL repair may need: it
// rewrites the newest segment of the WAL and of the WBL.
func repairSpace(dir string) int64 {
	var n int64
	for _, sub := range []string{"wal", "wbl"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			continue
		}
		for k := len(entries) - 1; k >= 0; k-- {
			if info, err := entries[k].Info(); err == nil && info.Mode().IsRegular() && !strings.Contains(info.Name(), ".") {
				n += info.Size()
				break
			}
		}
	}
	return n
}

// reopen closes t's TSDB and opens it again: the WAL replays and the
// TSDB cuts the torn tail a failed write left. t's metadata carries over.
// When the open fails, t stays in the map, closed (its calls fail with a
// retryable error), and the next recovery tries again.
func (s *tenantDBs) reopen(t *tenantDB) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.get(t.id) != t {
		return // Deleted or stopping.
	}
	start := time.Now()
	if err := t.close(); err != nil {
		s.logger.Warn("Closing a tenant TSDB whose WAL write failed", "tenant", t.id, "err", err)
	}
	s.metrics.memorySeries.DeleteLabelValues(string(t.id))
	nt, err := s.open(t.id, nil)
	if err != nil {
		if now := s.now(); now.Sub(s.walRecovered.lastLog) >= walWaitLogInterval {
			s.walRecovered.lastLog = now
			s.logger.Error("Reopening a tenant TSDB whose WAL write failed; retrying", "tenant", t.id, "err", err)
		}
		return
	}
	nt.metadata = t.metadata
	s.mu.Lock()
	s.m[t.id] = nt
	s.mu.Unlock()
	s.logger.Info("Reopened a tenant TSDB after a WAL write failure; accepting its writes again",
		"tenant", t.id, "series", nt.limiter.series(), "duration", time.Since(start))
}

// restoreInterruptedRepairs puts back WAL and WBL segments that the TSDB
// renamed to <segment>.repair for a repair that did not finish (the disk
// was full). The TSDB ignores those files; its next repair would rename
// the partial copy over them and lose every record after the copy's end.
func restoreInterruptedRepairs(dir string, logger *slog.Logger, t tenant.ID) error {
	for _, sub := range []string{"wal", "wbl"} {
		matches, err := filepath.Glob(filepath.Join(dir, sub, "*.repair"))
		if err != nil {
			return fmt.Errorf("listing interrupted WAL repairs: %w", err)
		}
		for _, m := range matches {
			seg := strings.TrimSuffix(m, ".repair")
			if err := os.Rename(m, seg); err != nil {
				return fmt.Errorf("restoring WAL segment %s from an interrupted repair: %w", seg, err)
			}
			logger.Warn("Restored a WAL segment whose repair was interrupted; the TSDB repairs it again", "tenant", t, "segment", seg)
		}
	}
	return nil
}
