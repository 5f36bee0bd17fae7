package ruler

import (
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantRegistries exposes the metrics of every tenant's rules manager and
// notifier with a tenant label. The upstream packages register the same
// metric names for every manager, so each tenant gets its own registry;
// dropping a tenant drops its registry, and with it its series.
type tenantRegistries struct {
	mu   sync.Mutex
	regs map[tenant.ID]map[string]*prometheus.Registry
}

func newTenantRegistries() *tenantRegistries {
	return &tenantRegistries{regs: map[tenant.ID]map[string]*prometheus.Registry{}}
}

// add returns a new registry for part ("manager", "notifier") of t,
// replacing any earlier one of that part.
func (tr *tenantRegistries) add(t tenant.ID, part string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	tr.mu.Lock()
	if tr.regs[t] == nil {
		tr.regs[t] = map[string]*prometheus.Registry{}
	}
	tr.regs[t][part] = reg
	tr.mu.Unlock()
	return reg
}

func (tr *tenantRegistries) remove(t tenant.ID) {
	tr.mu.Lock()
	delete(tr.regs, t)
	tr.mu.Unlock()
}

// Describe describes nothing: the collector is unchecked, its metrics come
// and go with tenants.
func (*tenantRegistries) Describe(chan<- *prometheus.Desc) {}

// Collect gathers every tenant's registry and adds the tenant label.
func (tr *tenantRegistries) Collect(ch chan<- prometheus.Metric) {
	type entry struct {
		t   tenant.ID
		reg *prometheus.Registry
	}
	var regs []entry
	tr.mu.Lock()
	for _, t := range slices.Sorted(maps.Keys(tr.regs)) {
		for _, part := range slices.Sorted(maps.Keys(tr.regs[t])) {
			regs = append(regs, entry{t, tr.regs[t][part]})
		}
	}
	tr.mu.Unlock()
	for _, e := range regs {
		t := e.t
		mfs, err := e.reg.Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if pm := constMetric(mf, m, string(t)); pm != nil {
					ch <- pm
				}
			}
		}
	}
}

// constMetric copies one gathered sample with tenant added to its labels.
func constMetric(mf *dto.MetricFamily, m *dto.Metric, t string) prometheus.Metric {
	names := []string{"tenant"}
	values := []string{t}
	for _, lp := range m.GetLabel() {
		names = append(names, lp.GetName())
		values = append(values, lp.GetValue())
	}
	desc := prometheus.NewDesc(mf.GetName(), mf.GetHelp(), names, nil)
	var (
		pm  prometheus.Metric
		err error
	)
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		pm, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		pm, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		pm, err = prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		pm, err = prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		q := make(map[float64]float64, len(s.GetQuantile()))
		for _, qq := range s.GetQuantile() {
			q[qq.GetQuantile()] = qq.GetValue()
		}
		pm, err = prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), q, values...)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return pm
}
