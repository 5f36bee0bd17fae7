package distributor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TenantStats is one tenant's line of /distributor/all_user_stats.
type TenantStats struct {
	Tenant string `json:"tenant"`
	// Series is the in-memory series summed over ingesters, divided by the
	// replication factor.
	Series float64 `json:"series"`
	// IngestionRate is samples per second, summed over ingesters, divided
	// by the replication factor; APIRate and RuleRate split it by source.
	IngestionRate float64 `json:"ingestion_rate"`
	APIRate       float64 `json:"api_ingestion_rate"`
	RuleRate      float64 `json:"rule_ingestion_rate"`
}

// AllTenantStats asks every ingester for its per-tenant stats and sums
// them, divided by the replication factor. It fails when more ingesters
// fail than the ring tolerates.
func (d *Distributor) AllTenantStats(ctx context.Context) ([]TenantStats, error) {
	rs, err := d.ring.GetAll(ring.Read)
	if err != nil {
		return nil, fmt.Errorf("finding ingesters: %w", err)
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []error
	)
	sums := map[string]*TenantStats{}
	// Wait for every ingester (ReplicationSet.Do would stop at a quorum
	// and leave the sums short); tolerate the failures the ring does.
	for i := range rs.Instances {
		addr := rs.Instances[i].Addr
		wg.Go(func() {
			resp, err := d.tenantStats(ctx, addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err)
				return
			}
			for _, e := range resp.Tenants {
				s := sums[e.Tenant]
				if s == nil {
					s = &TenantStats{Tenant: e.Tenant}
					sums[e.Tenant] = s
				}
				s.Series += float64(e.Stats.NumSeries)
				s.IngestionRate += e.Stats.IngestionRate
				s.APIRate += e.Stats.ApiIngestionRate
				s.RuleRate += e.Stats.RuleIngestionRate
			}
		})
	}
	wg.Wait()
	if len(failed) > rs.MaxErrors+rs.MaxUnavailableZones {
		return nil, fmt.Errorf("asking ingesters for tenant stats: %d of %d failed: %w", len(failed), len(rs.Instances), errors.Join(failed...))
	}
	rf := float64(max(1, min(d.ring.ReplicationFactor(), len(rs.Instances))))
	mu.Lock()
	defer mu.Unlock()
	out := make([]TenantStats, 0, len(sums))
	for _, s := range sums {
		s.Series /= rf
		s.IngestionRate /= rf
		s.APIRate /= rf
		s.RuleRate /= rf
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}

func (d *Distributor) tenantStats(ctx context.Context, addr string) (*ingesterpb.AllTenantStatsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RemoteTimeout)
	defer cancel()
	c, err := d.clients.Get(addr)
	if err != nil {
		return nil, err
	}
	resp, err := c.AllTenantStats(ctx, &ingesterpb.AllTenantStatsRequest{})
	if err != nil {
		return nil, fmt.Errorf("ingester %s: %w", addr, err)
	}
	return resp, nil
}

// OwnTenantStats is the answer of GET /api/v1/user_stats: one tenant's
// figures in Cortex's JSON (its UserStats), summed over ingesters and
// divided by the replication factor.
type OwnTenantStats struct {
	IngestionRate     float64 `json:"ingestionRate"`
	NumSeries         uint64  `json:"numSeries"`
	APIIngestionRate  float64 `json:"APIIngestionRate"`
	RuleIngestionRate float64 `json:"RuleIngestionRate"`
}

// OwnStats asks every ingester for the stats of the tenant in ctx and sums
// them, divided by the replication factor. It fails when more ingesters
// fail than the ring tolerates.
func (d *Distributor) OwnStats(ctx context.Context) (OwnTenantStats, error) {
	rs, err := d.ring.GetAll(ring.Read)
	if err != nil {
		return OwnTenantStats{}, fmt.Errorf("finding ingesters: %w", err)
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []error
		sum    OwnTenantStats
		series float64
	)
	for i := range rs.Instances {
		addr := rs.Instances[i].Addr
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, d.cfg.RemoteTimeout)
			defer cancel()
			c, err := d.clients.Get(addr)
			var resp *ingesterpb.TenantStatsResponse
			if err == nil {
				resp, err = c.TenantStats(ctx, &ingesterpb.TenantStatsRequest{})
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Errorf("ingester %s: %w", addr, err))
				return
			}
			series += float64(resp.Stats.NumSeries)
			sum.IngestionRate += resp.Stats.IngestionRate
			sum.APIIngestionRate += resp.Stats.ApiIngestionRate
			sum.RuleIngestionRate += resp.Stats.RuleIngestionRate
		})
	}
	wg.Wait()
	if len(failed) > rs.MaxErrors+rs.MaxUnavailableZones {
		return OwnTenantStats{}, fmt.Errorf("asking ingesters for the tenant's stats: %d of %d failed: %w", len(failed), len(rs.Instances), errors.Join(failed...))
	}
	rf := float64(max(1, min(d.ring.ReplicationFactor(), len(rs.Instances))))
	sum.NumSeries = uint64(math.Round(series / rf))
	sum.IngestionRate /= rf
	sum.APIIngestionRate /= rf
	sum.RuleIngestionRate /= rf
	return sum, nil
}

// OwnStatsHandler serves GET /api/v1/user_stats: the figures of the
// request's tenant (wrap it with the authentication middleware), in
// Cortex's JSON.
func (d *Distributor) OwnStatsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stats, err := d.OwnStats(r.Context())
		if err != nil {
			d.logger.Warn("Collecting the tenant's stats failed", "err", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(stats)
	})
}

var statsPage = template.Must(template.New("stats").Parse(`<!DOCTYPE html>
<html><head><title>Tenant stats</title></head><body>
<h1>Tenant stats</h1>
<table border="1" cellpadding="4">
<tr><th>Tenant</th><th>Series</th><th>Ingestion rate (samples/s)</th><th>API rate</th><th>Rule rate</th></tr>
{{range .}}<tr><td>{{.Tenant}}</td><td>{{printf "%.0f" .Series}}</td><td>{{printf "%.2f" .IngestionRate}}</td><td>{{printf "%.2f" .APIRate}}</td><td>{{printf "%.2f" .RuleRate}}</td></tr>
{{end}}</table>
<p>Series and rates are summed over ingesters and divided by the replication factor.</p>
</body></html>
`))

// AllTenantStatsHandler serves /distributor/all_user_stats: an HTML table,
// or JSON when the request accepts application/json. It is an operator
// endpoint: it shows every tenant.
func (d *Distributor) AllTenantStatsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stats, err := d.AllTenantStats(r.Context())
		if err != nil {
			d.logger.Warn("Collecting tenant stats failed", "err", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(stats)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = statsPage.Execute(w, stats)
	})
}
