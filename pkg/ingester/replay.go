package ingester

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Status is the ingester's state as /ready shows it.
type Status struct {
	// Replay is the WAL replay at startup.
	Replay ReplayStatus `json:"wal_replay"`
	// Tenants is the number of tenants with an open TSDB.
	Tenants int `json:"tenants"`
	// WALFailedTenants are the tenants whose pushes are refused since a
	// write to their WAL failed, until their TSDB is reopened.
	WALFailedTenants []tenant.ID `json:"wal_failed_tenants,omitempty"`
	// InflightPushes is the number of push requests being handled.
	InflightPushes int64 `json:"inflight_pushes"`
}

// ReplayStatus is the progress of the WAL replay at startup: the tenants
// found in -ingester.dir are opened one after the other.
type ReplayStatus struct {
	// Done is set once every tenant is replayed (the ingester is Running).
	Done bool `json:"done"`
	// Tenants is the number of tenant directories found; TenantsReplayed
	// the number opened so far.
	Tenants         int `json:"tenants"`
	TenantsReplayed int `json:"tenants_replayed"`
	// Tenant is the tenant being replayed, with the WAL segment being read
	// (Segment, in FirstSegment..LastSegment).
	Tenant       tenant.ID `json:"tenant,omitempty"`
	Segment      int       `json:"segment"`
	FirstSegment int       `json:"first_segment"`
	LastSegment  int       `json:"last_segment"`
	// Series is the number of series replayed so far.
	Series int `json:"series"`
	// DurationSeconds is the time spent replaying, so far or in all.
	DurationSeconds float64 `json:"duration_seconds"`
}

// replayState tracks the WAL replay at startup.
type replayState struct {
	mu       sync.Mutex
	total    int
	done     int
	series   int
	current  tenant.ID
	stats    *tsdb.DBStats // the current tenant's
	started  time.Time
	finished time.Time
}

func newReplayMetrics(reg prometheus.Registerer, r *replayState) {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_ingester_wal_replay_tenants",
		Help: "Tenants whose WAL the ingester replays at startup (the tenant directories it found).",
	}, func() float64 { return float64(r.status().Tenants) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_ingester_wal_replayed_tenants",
		Help: "Tenants whose WAL is replayed so far at startup; equal to hearth_ingester_wal_replay_tenants once the ingester is running.",
	}, func() float64 { return float64(r.status().TenantsReplayed) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_ingester_wal_replay_duration_seconds",
		Help: "Time spent replaying the WALs of every tenant at startup, so far or in all. Per tenant: hearth_ingester_tsdb_data_replay_duration_seconds.",
	}, func() float64 { return r.status().DurationSeconds })
}

func (r *replayState) begin(total int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total, r.started = total, now
}

// opening records that t is being opened, with stats for its progress.
func (r *replayState) opening(t tenant.ID, stats *tsdb.DBStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current, r.stats = t, stats
}

// opened records that the current tenant is open, with its series.
func (r *replayState) opened(series int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done++
	r.series += series
	r.current, r.stats = "", nil
}

func (r *replayState) end(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = now
}

func (r *replayState) status() ReplayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ReplayStatus{
		Done:            !r.finished.IsZero(),
		Tenants:         r.total,
		TenantsReplayed: r.done,
		Tenant:          r.current,
		Series:          r.series,
	}
	switch {
	case r.started.IsZero():
	case s.Done:
		s.DurationSeconds = r.finished.Sub(r.started).Seconds()
	default:
		s.DurationSeconds = time.Since(r.started).Seconds()
	}
	if r.stats != nil {
		ws := r.stats.Head.WALReplayStatus.GetWALReplayStatus()
		s.Segment, s.FirstSegment, s.LastSegment = ws.Current, ws.Min, ws.Max
	}
	return s
}

// Status returns the ingester's state for /ready. It is safe to call at
// any time, during the WAL replay at startup in particular.
func (i *Ingester) Status() Status {
	s := Status{Replay: i.dbs.replay.status(), InflightPushes: i.inflightPushes.Load()}
	for _, t := range i.dbs.snapshot() {
		s.Tenants++
		if t.walErr.Load() != nil {
			s.WALFailedTenants = append(s.WALFailedTenants, t.id)
		}
	}
	sort.Slice(s.WALFailedTenants, func(a, b int) bool { return s.WALFailedTenants[a] < s.WALFailedTenants[b] })
	return s
}

// replayAll opens every tenant found in -ingester.dir, replaying its WAL,
// with progress in logs, metrics and Status.
func (s *tenantDBs) replayAll(ctx context.Context) error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("listing ingester directory: %w", err)
	}
	var tenants []tenant.ID
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t, err := tenant.Parse(e.Name())
		if err != nil {
			s.logger.Warn("Skipping directory that is not a tenant", "dir", e.Name(), "err", err)
			continue
		}
		tenants = append(tenants, t)
	}
	start := time.Now()
	s.replay.begin(len(tenants), start)
	if len(tenants) > 0 {
		s.logger.Info("Replaying the WAL of every tenant", "tenants", len(tenants), "dir", s.cfg.Dir)
	}
	series := 0
	for k, t := range tenants {
		if err := ctx.Err(); err != nil {
			return err
		}
		stats := tsdb.NewDBStats()
		s.replay.opening(t, stats)
		tenantStart := time.Now()
		tdb, err := s.open(t, stats)
		if err != nil {
			return err
		}
		n := tdb.limiter.series()
		series += n
		s.mu.Lock()
		s.m[t] = tdb
		s.metrics.memoryTenants.Set(float64(len(s.m)))
		s.mu.Unlock()
		s.replay.opened(n)
		s.logger.Info("Replayed tenant WAL", "tenant", t, "progress", fmt.Sprintf("%d/%d", k+1, len(tenants)),
			"series", n, "duration", time.Since(tenantStart))
	}
	s.replay.end(time.Now())
	s.logger.Info("Replayed the WAL of every tenant", "tenants", len(tenants), "series", series, "duration", time.Since(start))
	return nil
}
