package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/prompb"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// SelfMonitoringConfig is the `self_monitoring:` section: the process
// writes its own metrics into a reserved tenant through its distributor's
// push path, so the monitoring mixin's dashboards work without a second
// Prometheus.
type SelfMonitoringConfig struct {
	Enabled  bool          `yaml:"enabled"`
	Interval time.Duration `yaml:"interval"`
	Tenant   string        `yaml:"tenant"`
}

// RegisterFlags registers the -self-monitoring.* flags.
func (c *SelfMonitoringConfig) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&c.Enabled, "self-monitoring.enabled", false, "Write this process's own metrics (those of the operator listener's /metrics) into the tenant -self-monitoring.tenant every -self-monitoring.interval, through the distributor in this process. Default: on in the all-in-one (-target=all), off otherwise (a cluster is scraped by a Prometheus); needs the distributor in the process.")
	// 15s is Prometheus's usual scrape interval, which the mixin's
	// rate() windows assume.
	f.DurationVar(&c.Interval, "self-monitoring.interval", 15*time.Second, "How often -self-monitoring.enabled writes the process's metrics.")
	f.StringVar(&c.Tenant, "self-monitoring.tenant", "hearth-self", "Tenant that -self-monitoring.enabled writes into; read it with a key of this tenant (hearth keys create --tenant hearth-self --scope read).")
}

// Validate reports every invalid setting.
func (c *SelfMonitoringConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("self_monitoring.interval %s: must be positive", c.Interval))
	}
	if err := tenant.Validate(c.Tenant); err != nil {
		errs = append(errs, fmt.Errorf("self_monitoring.tenant: %w", err))
	}
	return errors.Join(errs...)
}

// initSelfMonitoring adds the service that writes the process's metrics
// into the self-monitoring tenant through the distributor's push handler
// (validation, limits and replication as for any tenant; no
// authentication, the call never leaves the process).
func (a *App) initSelfMonitoring(explicitSet) error {
	cfg := a.cfg.SelfMonitoring
	if !cfg.Enabled {
		return nil
	}
	if a.distributor == nil {
		return errors.New("self_monitoring.enabled needs the distributor in this process (-target=all or distributor)")
	}
	push := a.distributor.PushHandler()
	instance := a.InternalAddr()
	id := tenant.ID(cfg.Tenant)
	a.svcs = append(a.svcs, services.New("self-monitoring", nil, func(ctx context.Context) error {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				if err := selfScrape(tenant.WithID(ctx, id), a.reg, push, instance, now); err != nil {
					a.logger.Warn("Writing the process's own metrics failed", "tenant", cfg.Tenant, "err", err)
				}
			}
		}
	}, nil))
	return nil
}

// selfScrape gathers g and pushes it, as remote write 1.0, to push with
// ctx's tenant. Every series gets job="hearth" and instance.
func selfScrape(ctx context.Context, g prometheus.Gatherer, push http.Handler, instance string, now time.Time) error {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return fmt.Errorf("gathering: %w", err)
	}
	req := familiesToWriteRequest(mfs, []prompb.Label{{Name: "instance", Value: instance}, {Name: "job", Value: "hearth"}}, now.UnixMilli())
	raw, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/push", bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	rec := httptest.NewRecorder()
	push.ServeHTTP(rec, hr)
	if rec.Code/100 != 2 {
		return fmt.Errorf("push answered %d: %.300s", rec.Code, rec.Body.String())
	}
	return nil
}

// familiesToWriteRequest converts gathered families into one remote-write
// request as a Prometheus scrape would store them: a series per counter,
// gauge and untyped metric, _bucket/_sum/_count of classic histograms,
// quantiles/_sum/_count of summaries, plus each family's metadata. extra
// labels (sorted by name) are added to every series.
func familiesToWriteRequest(mfs []*dto.MetricFamily, extra []prompb.Label, ts int64) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	add := func(name string, m *dto.Metric, v float64, more ...prompb.Label) {
		ls := make([]prompb.Label, 0, 1+len(m.GetLabel())+len(extra)+len(more))
		ls = append(ls, prompb.Label{Name: "__name__", Value: name})
		for _, l := range m.GetLabel() {
			ls = append(ls, prompb.Label{Name: l.GetName(), Value: l.GetValue()})
		}
		ls = append(ls, more...)
		for _, e := range extra {
			if !hasLabel(ls, e.Name) {
				ls = append(ls, e)
			}
		}
		sortLabels(ls)
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}})
	}
	for _, mf := range mfs {
		name := mf.GetName()
		meta := prompb.MetricMetadata{MetricFamilyName: name, Help: mf.GetHelp()}
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, m, m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, m, q.GetValue(), prompb.Label{Name: "quantile", Value: strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)})
				}
				add(name+"_sum", m, s.GetSampleSum())
				add(name+"_count", m, float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				infSeen := false
				for _, b := range h.GetBucket() {
					infSeen = infSeen || math.IsInf(b.GetUpperBound(), 1)
					add(name+"_bucket", m, float64(b.GetCumulativeCount()), prompb.Label{Name: "le", Value: strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)})
				}
				if !infSeen {
					add(name+"_bucket", m, float64(h.GetSampleCount()), prompb.Label{Name: "le", Value: "+Inf"})
				}
				add(name+"_sum", m, h.GetSampleSum())
				add(name+"_count", m, float64(h.GetSampleCount()))
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			meta.Type = prompb.MetricMetadata_COUNTER
		case dto.MetricType_GAUGE:
			meta.Type = prompb.MetricMetadata_GAUGE
		case dto.MetricType_SUMMARY:
			meta.Type = prompb.MetricMetadata_SUMMARY
		case dto.MetricType_HISTOGRAM:
			meta.Type = prompb.MetricMetadata_HISTOGRAM
		default:
			meta.Type = prompb.MetricMetadata_UNKNOWN
		}
		req.Metadata = append(req.Metadata, meta)
	}
	return req
}

func hasLabel(ls []prompb.Label, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

// sortLabels sorts by name, as remote write requires (insertion sort: a
// handful of labels).
func sortLabels(ls []prompb.Label) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}
