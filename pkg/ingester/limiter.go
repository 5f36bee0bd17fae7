package ingester

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// RingInfo tells the ingester how many healthy ingesters share the series,
// to turn global series limits into local ones (global × replication factor
// ÷ healthy ingesters). The ring lifecycler provides it; it must be safe for
// concurrent use and cheap (it is called when a series is created). A nil
// RingInfo disables the global limits.
type RingInfo interface {
	HealthyInstancesCount() int
	ReplicationFactor() int
}

// seriesLimiter counts a tenant's in-memory series, in total and per metric
// name, and refuses new series over the limits. It is the head's
// SeriesLifecycleCallback: PreCreation runs before a series is created,
// PostCreation and PostDeletion keep the counts.
type seriesLimiter struct {
	tenant tenant.ID
	// instance counts every tenant's series of this ingester; maxInstance
	// bounds it (0: no bound).
	instance    *atomic.Int64
	maxInstance int
	overrides   *limits.Overrides
	ring        RingInfo
	gauge       prometheus.Gauge

	// enforcing is off during WAL replay: series already accepted are
	// never dropped on restart.
	enforcing atomic.Bool

	mu        sync.Mutex
	total     int
	perMetric map[string]int

	// owned is the set of label sets series may be created with (see
	// owned.go).
	owned ownedLabels
}

var _ tsdb.SeriesLifecycleCallback = (*seriesLimiter)(nil)

func newSeriesLimiter(t tenant.ID, o *limits.Overrides, ring RingInfo, gauge prometheus.Gauge, instance *atomic.Int64, maxInstance int) *seriesLimiter {
	return &seriesLimiter{tenant: t, overrides: o, ring: ring, gauge: gauge, perMetric: map[string]int{}, instance: instance, maxInstance: maxInstance}
}

// PreCreation refuses a new series over a limit with a *seriesLimitError,
// and one whose labels Push has not copied with errUnownedLabels.
func (l *seriesLimiter) PreCreation(lset labels.Labels) error {
	if !l.enforcing.Load() {
		return nil
	}
	if lookupOnce {
		if err := l.owned.check(lset); err != nil {
			return err
		}
	}
	if l.maxInstance > 0 && l.instance.Load() >= int64(l.maxInstance) {
		return &seriesLimitError{reason: "instance_series_limit", flag: "ingester.instance-limits.max-series", limit: l.maxInstance, tenant: l.tenant, retryable: true}
	}
	lim := l.overrides.For(l.tenant)
	tenantLimit, tenantFlag := l.effective(lim.MaxSeriesPerTenant, lim.MaxGlobalSeriesPerTenant, "ingester.max-series-per-tenant", "ingester.max-global-series-per-tenant")
	metricLimit, metricFlag := l.effective(lim.MaxSeriesPerMetric, lim.MaxGlobalSeriesPerMetric, "ingester.max-series-per-metric", "ingester.max-global-series-per-metric")
	if tenantLimit == 0 && metricLimit == 0 {
		return nil
	}
	metric := lset.Get(model.MetricNameLabel)

	l.mu.Lock()
	defer l.mu.Unlock()
	if tenantLimit > 0 && l.total >= tenantLimit {
		return &seriesLimitError{reason: "per_tenant_series_limit", flag: tenantFlag, limit: tenantLimit, tenant: l.tenant}
	}
	if metricLimit > 0 && l.perMetric[metric] >= metricLimit {
		return &seriesLimitError{reason: "per_metric_series_limit", flag: metricFlag, limit: metricLimit, tenant: l.tenant, metric: metric}
	}
	return nil
}

// effective returns the stricter of the local limit and the local share of
// the global one (0 = no limit), and the flag that sets it.
func (l *seriesLimiter) effective(local, global int, localFlag, globalFlag string) (int, string) {
	if global <= 0 || l.ring == nil {
		return local, localFlag
	}
	healthy, rf := l.ring.HealthyInstancesCount(), l.ring.ReplicationFactor()
	if healthy <= 0 || rf <= 0 {
		return local, localFlag
	}
	share := global * rf / healthy
	if share < 1 {
		share = 1
	}
	if local > 0 && local <= share {
		return local, localFlag
	}
	return share, globalFlag
}

// PostCreation counts a created series.
func (l *seriesLimiter) PostCreation(lset labels.Labels) {
	metric := lset.Get(model.MetricNameLabel)
	l.mu.Lock()
	l.total++
	l.perMetric[metric]++
	l.mu.Unlock()
	l.instance.Add(1)
	l.gauge.Inc()
}

// PostDeletion uncounts series removed by head garbage collection.
func (l *seriesLimiter) PostDeletion(deleted map[chunks.HeadSeriesRef]labels.Labels) {
	l.mu.Lock()
	for _, lset := range deleted {
		metric := lset.Get(model.MetricNameLabel)
		l.total--
		if n := l.perMetric[metric] - 1; n > 0 {
			l.perMetric[metric] = n
		} else {
			delete(l.perMetric, metric)
		}
	}
	l.mu.Unlock()
	l.instance.Add(-int64(len(deleted)))
	l.gauge.Sub(float64(len(deleted)))
}

// series returns the tenant's in-memory series count.
func (l *seriesLimiter) series() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// release gives the tenant's series back to the instance count, when the
// tenant's DB closes.
func (l *seriesLimiter) release() {
	l.mu.Lock()
	n := l.total
	l.total = 0
	l.perMetric = map[string]int{}
	l.mu.Unlock()
	l.instance.Add(-int64(n))
}
