package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/limits"
)

// exportedLimits are the per-tenant limits exported as metrics, by YAML key:
// those a dashboard compares usage with (the mixin's tenant dashboard, the
// series-limit alert).
var exportedLimits = []struct {
	name  string
	value func(*limits.Limits) float64
}{
	{"ingestion_rate_limit", func(l *limits.Limits) float64 { return l.IngestionRate }},
	{"ingestion_burst_size", func(l *limits.Limits) float64 { return float64(l.IngestionBurstSize) }},
	{"max_series_per_tenant", func(l *limits.Limits) float64 { return float64(l.MaxSeriesPerTenant) }},
	{"max_series_per_metric", func(l *limits.Limits) float64 { return float64(l.MaxSeriesPerMetric) }},
	{"max_global_series_per_tenant", func(l *limits.Limits) float64 { return float64(l.MaxGlobalSeriesPerTenant) }},
	{"max_global_series_per_metric", func(l *limits.Limits) float64 { return float64(l.MaxGlobalSeriesPerMetric) }},
	{"max_samples_per_query", func(l *limits.Limits) float64 { return float64(l.MaxSamplesPerQuery) }},
	{"max_series_per_query", func(l *limits.Limits) float64 { return float64(l.MaxSeriesPerQuery) }},
}

// limitsCollector exports the per-tenant limits in effect: the defaults as
// hearth_limits_defaults{limit} and each tenant of the runtime overrides
// file as hearth_limits_overrides{tenant,limit}, so usage can be drawn as a
// share of its limit (Cortex's overrides exporter). The tenants are those
// the operator listed, so the series are bounded by the file.
type limitsCollector struct {
	overrides *limits.Overrides
	defaults  *prometheus.Desc
	perTenant *prometheus.Desc
}

func registerLimitsCollector(reg prometheus.Registerer, o *limits.Overrides) {
	if reg == nil {
		return
	}
	reg.MustRegister(&limitsCollector{
		overrides: o,
		defaults:  prometheus.NewDesc("hearth_limits_defaults", "Per-tenant limits' defaults (the limit flags), by limit (its YAML key).", []string{"limit"}, nil),
		perTenant: prometheus.NewDesc("hearth_limits_overrides", "Per-tenant limits of the tenants in the runtime overrides file, by tenant and limit (its YAML key).", []string{"tenant", "limit"}, nil),
	})
}

func (c *limitsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.defaults
	ch <- c.perTenant
}

func (c *limitsCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.overrides.Defaults()
	for _, l := range exportedLimits {
		ch <- prometheus.MustNewConstMetric(c.defaults, prometheus.GaugeValue, l.value(&d), l.name)
	}
	for t, tl := range c.overrides.All() {
		for _, l := range exportedLimits {
			ch <- prometheus.MustNewConstMetric(c.perTenant, prometheus.GaugeValue, l.value(tl), string(t), l.name)
		}
	}
}

// registerInstanceLimits exports the ingester's instance limits as
// hearth_ingester_instance_limits{limit} (0: disabled), which the
// near-series-limit alert divides by.
func registerInstanceLimits(reg prometheus.Registerer, l ingester.InstanceLimits) {
	g := promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
		Name: "hearth_ingester_instance_limits",
		Help: "This ingester's instance limits (-ingester.instance-limits.*), by limit; 0 means disabled.",
	}, []string{"limit"})
	g.WithLabelValues("max_series").Set(float64(l.MaxSeries))
	g.WithLabelValues("max_tenants").Set(float64(l.MaxTenants))
	g.WithLabelValues("max_inflight_push_requests").Set(float64(l.MaxInflightPushRequests))
}
