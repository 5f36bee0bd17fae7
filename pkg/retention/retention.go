package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Store is what the enforcer needs of the chunk store; *chunk.Store
// implements it.
type Store interface {
	// Tenants lists the tenants with rows in the store.
	Tenants(ctx context.Context) ([]string, error)
	// DeleteBucketsBefore drops the tenant's buckets that end before t
	// (milliseconds).
	DeleteBucketsBefore(ctx context.Context, tenant string, t int64) error
}

// TombstoneStore is what the enforcer needs to make series deletions
// permanent; *chunk.Store implements it. The enforcer uses it when its
// [Deps.Store] implements it.
type TombstoneStore interface {
	// TombstoneTenants lists the tenants with series deletions pending.
	TombstoneTenants(ctx context.Context) ([]string, error)
	// ApplyTombstones rewrites the tenant's chunks without the samples its
	// deletions requested before createdBefore (milliseconds) delete, then
	// removes those deletions; it returns how many it applied.
	ApplyTombstones(ctx context.Context, tenant string, createdBefore int64) (int, error)
}

// tombstoneSettle is how old a series deletion must be before retention
// rewrites the chunks it covers and removes it: until then the store hides
// the deleted samples at query time. It leaves time for flushes that were
// under way when the ingesters deleted (a flush copies a block that the
// ingester has since rewritten without the deleted samples); applying
// earlier would let such a flush bring the samples back.
const tombstoneSettle = time.Hour

// Deps are what NewEnforcer needs.
type Deps struct {
	Config     Config
	Store      Store
	Overrides  *limits.Overrides
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Enforcer drops expired buckets on a schedule; its lifecycle is
// [Enforcer.Service].
type Enforcer struct {
	cfg       Config
	store     Store
	overrides *limits.Overrides
	logger    *slog.Logger
	svc       *services.Service
	now       func() time.Time
	// tombstones is Store when it can apply series deletions, else nil.
	tombstones TombstoneStore

	runs        *prometheus.CounterVec
	failures    prometheus.Counter
	lastSuccess prometheus.Gauge
	duration    prometheus.Histogram
	applied     prometheus.Counter
}

// NewEnforcer returns an enforcer.
func NewEnforcer(d Deps) (*Enforcer, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, fmt.Errorf("retention config: %w", err)
	}
	if d.Store == nil || d.Overrides == nil || d.Logger == nil || d.Registerer == nil {
		return nil, errors.New("retention: Store, Overrides, Logger and Registerer are required")
	}
	f := promauto.With(d.Registerer)
	e := &Enforcer{
		cfg:       d.Config,
		store:     d.Store,
		overrides: d.Overrides,
		logger:    d.Logger,
		now:       time.Now,
		runs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_retention_runs_total",
			Help: "Retention runs over every tenant, by status (success, failure).",
		}, []string{"status"}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_retention_tenant_failures_total",
			Help: "Tenants whose expired buckets could not be dropped in a run (retried at the next run).",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_retention_last_success_timestamp_seconds",
			Help: "When a retention run last completed for every tenant.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_retention_run_duration_seconds",
			Help:    "Duration of a retention run over every tenant.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
		}),
		applied: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_retention_applied_tombstones_total",
			Help: "Series deletions made permanent in the chunk store (chunks rewritten, tombstone removed).",
		}),
	}
	e.tombstones, _ = d.Store.(TombstoneStore)
	e.svc = services.New("retention", nil, e.run, nil)
	return e, nil
}

// Service returns the enforcer's lifecycle: Running, it enforces retention
// at once and then every -store.retention-interval.
func (e *Enforcer) Service() *services.Service { return e.svc }

func (e *Enforcer) run(ctx context.Context) error {
	t := time.NewTicker(time.Duration(e.cfg.Interval))
	defer t.Stop()
	for {
		if err := e.Enforce(ctx); err != nil && ctx.Err() == nil {
			e.logger.Warn("Enforcing retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Enforce runs retention once: for every tenant with a retention period,
// it drops the buckets that ended before now − period; then, for every
// tenant with series deletions older than an hour, it rewrites the chunks
// they cover and removes them. A tenant that fails does not stop the
// others; the errors are returned together.
func (e *Enforcer) Enforce(ctx context.Context) error {
	start := time.Now()
	err := e.enforce(ctx)
	e.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		e.runs.WithLabelValues("failure").Inc()
		return err
	}
	e.runs.WithLabelValues("success").Inc()
	e.lastSuccess.Set(float64(e.now().Unix()))
	return nil
}

func (e *Enforcer) enforce(ctx context.Context) error {
	tenants, err := e.tenants(ctx)
	if err != nil {
		return err
	}
	now := e.now()
	var errs []error
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			return err
		}
		period := time.Duration(e.overrides.For(t).RetentionPeriod)
		if period <= 0 {
			continue
		}
		if err := e.store.DeleteBucketsBefore(ctx, string(t), now.Add(-period).UnixMilli()); err != nil {
			e.failures.Inc()
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		}
	}
	if err := e.applyTombstones(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// applyTombstones makes the series deletions older than tombstoneSettle
// permanent, tenant by tenant.
func (e *Enforcer) applyTombstones(ctx context.Context, now time.Time) error {
	if e.tombstones == nil {
		return nil
	}
	tenants, err := e.tombstones.TombstoneTenants(ctx)
	if err != nil {
		return fmt.Errorf("listing tenants with series deletions: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := e.tombstones.ApplyTombstones(ctx, t, now.Add(-tombstoneSettle).UnixMilli())
		e.applied.Add(float64(n))
		if err != nil {
			e.failures.Inc()
			errs = append(errs, fmt.Errorf("tenant %s: applying series deletions: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// tenants lists the tenants that may have a retention period: those with
// an override, and every tenant in the store when the default has one.
func (e *Enforcer) tenants(ctx context.Context) ([]tenant.ID, error) {
	var out []tenant.ID
	for t := range e.overrides.All() {
		out = append(out, t)
	}
	if e.overrides.Defaults().RetentionPeriod > 0 {
		stored, err := e.store.Tenants(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing tenants: %w", err)
		}
		for _, s := range stored {
			t, err := tenant.Parse(s)
			if err != nil {
				e.logger.Warn("Skipping a stored tenant with an invalid ID", "tenant", s, "err", err)
				continue
			}
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
