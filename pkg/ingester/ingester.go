package ingester

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

const (
	// rateUpdatePeriod is how often the ingestion rates are updated (as
	// Cortex's -ingester.rate-update-period default).
	rateUpdatePeriod = 15 * time.Second
	// rateWindow is the time constant of the ingestion-rate average.
	rateWindow = time.Minute
	// serviceName is the gRPC service name the health service reports on.
	serviceName = "hearth.ingester.v1.Ingester"
)

// Flusher takes compacted blocks to the chunk store. The flush loop
// implements it; the ingester works without one (blocks are then deleted
// after the retention period alone).
type Flusher interface {
	// BlockCompacted is called once for every local block of a tenant that
	// the flusher has not been told about: blocks compacted from the head,
	// and blocks found on disk at startup. dir is the block's directory; it
	// stays on disk until Flushed reports true for the block and its end is
	// older than -ingester.retention-period. It must not block (queue the
	// work) and must not call back into the Ingester.
	BlockCompacted(t tenant.ID, meta tsdb.BlockMeta, dir string)
	// Flushed reports whether the block is entirely in the chunk store, so
	// the local copy may be deleted once past retention. It is called from
	// the TSDB's block reload: it must be fast and must not call back into
	// the Ingester.
	Flushed(t tenant.ID, meta tsdb.BlockMeta) bool
}

// Deps are what New needs.
type Deps struct {
	Config     Config
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Overrides  *limits.Overrides
	// Ring, optional, turns global series limits into local ones.
	Ring RingInfo
	// Flusher, optional, is told of compacted blocks and gates their
	// deletion.
	Flusher Flusher
}

// Ingester stores the recent series of every tenant, one Prometheus TSDB per
// tenant, and serves them over gRPC. It implements
// ingesterpb.IngesterServer; its lifecycle is [Ingester.Service].
type Ingester struct {
	cfg Config
	// inflightPushes counts pushes being handled, for
	// -ingester.instance-limits.max-inflight-push-requests.
	inflightPushes atomic.Int64
	disk           *diskGuard
	logger         *slog.Logger
	overrides      *limits.Overrides
	metrics        *metrics
	svc            *services.Service
	health         *health.Server
	now            func() time.Time

	// dbs are the tenants' TSDBs: their lifecycle, the map and its locks.
	dbs *tenantDBs

	pushPool sync.Pool // *pushScratch
}

var _ ingesterpb.IngesterServer = (*Ingester)(nil)

// New builds an ingester. It touches no disk until its service starts.
func New(d Deps) (*Ingester, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, fmt.Errorf("ingester config: %w", err)
	}
	if d.Logger == nil || d.Registerer == nil || d.Overrides == nil {
		return nil, errors.New("ingester: Logger, Registerer and Overrides are required")
	}
	i := &Ingester{
		cfg:       d.Config,
		logger:    d.Logger,
		overrides: d.Overrides,
		health:    health.NewServer(),
		disk:      newDiskGuard(d.Config.Dir, d.Config.MinFreeDiskSpaceBytes),
		now:       time.Now,
	}
	i.metrics = newMetrics(d.Registerer, func() float64 { return float64(i.inflightPushes.Load()) })
	i.dbs = newTenantDBs(d, i.metrics)
	newReplayMetrics(d.Registerer, &i.dbs.replay)
	i.pushPool.New = func() any { return &pushScratch{} }
	i.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	i.health.SetServingStatus(serviceName, healthpb.HealthCheckResponse_NOT_SERVING)
	d.Registerer.MustRegister(&tsdbCollector{registries: i.dbs.registries})
	i.svc = services.New("ingester", i.start, i.run, i.stop)
	return i, nil
}

// Service returns the ingester's lifecycle. Starting opens every tenant
// found in -ingester.dir, replaying their WALs; the ingester is Running (and
// its gRPC health SERVING) only after that. Stopping closes every tenant DB.
func (i *Ingester) Service() *services.Service { return i.svc }

// Register registers the Ingester gRPC service and the gRPC health service
// (SERVING only while the ingester is Running) on s.
func (i *Ingester) Register(s *grpc.Server) {
	ingesterpb.RegisterIngesterServer(s, i)
	healthpb.RegisterHealthServer(s, i.health)
}

func (i *Ingester) start(ctx context.Context) error {
	if err := os.MkdirAll(i.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("creating ingester directory: %w", err)
	}
	if err := i.dbs.replayAll(ctx); err != nil {
		return err
	}
	// Serving from here on: the service turns Running when start returns.
	i.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	i.health.SetServingStatus(serviceName, healthpb.HealthCheckResponse_SERVING)
	return nil
}

func (i *Ingester) run(ctx context.Context) error {
	defer func() {
		i.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		i.health.SetServingStatus(serviceName, healthpb.HealthCheckResponse_NOT_SERVING)
	}()

	compactTicker := time.NewTicker(time.Duration(i.cfg.HeadCompactionInterval))
	defer compactTicker.Stop()
	rateTicker := time.NewTicker(rateUpdatePeriod)
	defer rateTicker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-compactTicker.C:
			if err := i.Compact(ctx); err != nil && ctx.Err() == nil {
				i.logger.Error("Maintaining tenant TSDBs failed", "err", err)
			}
		case <-rateTicker.C:
			for _, t := range i.dbs.snapshot() {
				t.apiRate.tick()
				t.ruleRate.tick()
			}
			i.dbs.recoverWALs()
		case <-i.dbs.walRecovery:
			i.dbs.recoverWALs()
		}
	}
}

func (i *Ingester) stop(error) error {
	err := i.dbs.closeAll()
	i.health.Shutdown()
	return err
}

// Compact runs one maintenance cycle over every tenant now: it applies
// changed per-tenant limits, compacts heads into blocks where a block range
// is complete, tells the flusher of new blocks, and expires old metadata.
// The service runs it every -ingester.head-compaction-interval.
func (i *Ingester) Compact(ctx context.Context) error { return i.dbs.maintainAll(ctx) }

// Blocks lists t's local compacted blocks, oldest first (nil when t has no
// open DB). A flusher uses it to catch up after a restart.
func (i *Ingester) Blocks(t tenant.ID) []tsdb.BlockMeta {
	tdb := i.dbs.get(t)
	if tdb == nil || tdb.acquire() != nil {
		return nil
	}
	defer tdb.mu.RUnlock()
	return tdb.db.BlockMetas()
}

// checkRunning fails with ErrNotRunning unless the service is Running.
func (i *Ingester) checkRunning() error {
	if i.svc.State() != services.Running {
		return ErrNotRunning
	}
	return nil
}

// readTenant returns the caller's tenant and its DB, held for reading (nil
// when the tenant has no data here). Release with releaseRead.
func (i *Ingester) readTenant(ctx context.Context) (tenant.ID, *tenantDB, error) {
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := i.checkRunning(); err != nil {
		return id, nil, err
	}
	tdb := i.dbs.get(id)
	if tdb == nil {
		return id, nil, nil
	}
	if err := tdb.acquire(); err != nil {
		return id, nil, err
	}
	return id, tdb, nil
}

func releaseRead(tdb *tenantDB) {
	if tdb != nil {
		tdb.mu.RUnlock()
	}
}
