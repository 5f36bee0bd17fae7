package ingester

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantDBs owns the tenants' TSDBs ([tenantDB]) and their lifecycle: the
// open on a tenant's first push (forWrite) or at startup with the WAL
// replay (replayAll, replay.go), the commit that notices a failed WAL
// write and the reopen that recovers from it (wal.go), maintenance and
// head compaction (maintain.go), deletion (remove) and the close of every
// DB when the ingester stops (closeAll). The [Ingester] keeps the gRPC
// surface, admission and the service loop, which drives the maintenance
// and the recovery. Its locks and their order are in the package doc.
type tenantDBs struct {
	cfg       Config
	logger    *slog.Logger
	overrides *limits.Overrides
	ring      RingInfo
	flusher   Flusher
	metrics   *metrics
	now       func() time.Time
	// instanceSeries counts the in-memory series of every tenant, for
	// -ingester.instance-limits.max-series.
	instanceSeries atomic.Int64
	// headChunksWriteBufferSize is headChunksWriteBuffer but in benchmarks.
	headChunksWriteBufferSize int

	// openMu serialises opening and closing DBs; mu guards m and closing.
	// Lookups only take mu for reading.
	openMu  sync.Mutex
	mu      sync.RWMutex
	m       map[tenant.ID]*tenantDB
	closing bool

	// walRecovery asks the service loop to reopen tenants whose WAL write
	// failed; walRecovered is the state of recoverWALs, which only that
	// loop calls.
	walRecovery  chan struct{}
	walRecovered walRecoveryState

	replay replayState
}

func newTenantDBs(d Deps, m *metrics) *tenantDBs {
	return &tenantDBs{
		cfg:                       d.Config,
		logger:                    d.Logger,
		overrides:                 d.Overrides,
		ring:                      d.Ring,
		flusher:                   d.Flusher,
		metrics:                   m,
		now:                       time.Now,
		headChunksWriteBufferSize: headChunksWriteBuffer,
		m:                         map[tenant.ID]*tenantDB{},
		walRecovery:               make(chan struct{}, 1),
	}
}

// get returns t's open DB, or nil.
func (s *tenantDBs) get(t tenant.ID) *tenantDB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[t]
}

// forWrite returns t's DB, opening it on the tenant's first push.
func (s *tenantDBs) forWrite(t tenant.ID) (*tenantDB, error) {
	if tdb := s.get(t); tdb != nil {
		return tdb, nil
	}
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.RLock()
	tdb, closing := s.m[t], s.closing
	s.mu.RUnlock()
	if tdb != nil {
		return tdb, nil
	}
	if closing {
		return nil, ErrNotRunning
	}
	s.mu.RLock()
	err := s.checkTenantLimit(t)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	tdb, err = s.open(t, nil)
	if err != nil {
		return nil, err
	}
	s.logger.Info("Opened tenant TSDB", "tenant", t, "series", tdb.limiter.series(), "duration", time.Since(start))
	s.mu.Lock()
	s.m[t] = tdb
	s.metrics.memoryTenants.Set(float64(len(s.m)))
	s.mu.Unlock()
	return tdb, nil
}

// snapshot returns the open tenants.
func (s *tenantDBs) snapshot() []*tenantDB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*tenantDB, 0, len(s.m))
	for _, t := range s.m {
		out = append(out, t)
	}
	return out
}

// registries returns the private metrics registry of every open tenant,
// for tsdbCollector.
func (s *tenantDBs) registries() map[tenant.ID]*prometheus.Registry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[tenant.ID]*prometheus.Registry, len(s.m))
	for t, tdb := range s.m {
		out[t] = tdb.reg
	}
	return out
}

// checkTenantLimit refuses a new tenant over -ingester.instance-limits.max-tenants.
// Called with openMu held and mu held for reading.
func (s *tenantDBs) checkTenantLimit(t tenant.ID) error {
	limit := s.cfg.InstanceLimits.MaxTenants
	if limit <= 0 || len(s.m) < limit {
		return nil
	}
	s.metrics.rejectedPushes.WithLabelValues(reasonTenants).Inc()
	return &instanceLimitError{what: "tenants", flag: "ingester.instance-limits.max-tenants", limit: limit, tenant: t}
}

// closeAll closes every DB, after the calls in flight, for the ingester's
// stop; later opens fail with ErrNotRunning.
func (s *tenantDBs) closeAll() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	s.closing = true
	tenants := s.m
	s.m = map[tenant.ID]*tenantDB{}
	s.metrics.memoryTenants.Set(0)
	s.mu.Unlock()

	var errs []error
	for t, tdb := range tenants {
		if err := tdb.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing TSDB of tenant %s: %w", t, err))
		}
		s.metrics.deleteTenant(t)
	}
	return errors.Join(errs...)
}

// remove closes t's DB (if open), deletes its directory and its metrics:
// see [Ingester.DeleteTenant].
func (s *tenantDBs) remove(t tenant.ID) error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrNotRunning
	}
	tdb := s.m[t]
	delete(s.m, t)
	s.metrics.memoryTenants.Set(float64(len(s.m)))
	s.mu.Unlock()

	var errs []error
	if tdb != nil {
		if err := tdb.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing TSDB of tenant %s: %w", t, err))
		}
	}
	s.metrics.deleteTenant(t)
	// openMu is held: no push can reopen the tenant before its directory
	// is gone.
	if err := os.RemoveAll(filepath.Join(s.cfg.Dir, string(t))); err != nil {
		errs = append(errs, fmt.Errorf("removing directory of tenant %s: %w", t, err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.logger.Info("Deleted tenant from the ingester", "tenant", t, "was_open", tdb != nil)
	return nil
}
