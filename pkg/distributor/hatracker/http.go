package hatracker

import (
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Status is one line of /distributor/ha_tracker.
type Status struct {
	Tenant    string    `json:"tenant"`
	Cluster   string    `json:"cluster"`
	Replica   string    `json:"replica"`
	ElectedAt time.Time `json:"elected_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// FailoverAt is when another replica may be elected if the elected
	// one sends nothing more (as far as this distributor knows).
	FailoverAt time.Time `json:"failover_at"`
}

var statusPage = template.Must(template.New("ha").Parse(`<!DOCTYPE html>
<html><head><title>HA tracker</title></head><body>
<h1>HA tracker</h1>
<p>Elected replica of each tenant's HA cluster, as this distributor knows it at {{.Now.Format "2006-01-02T15:04:05Z07:00"}}.</p>
<table border="1" cellpadding="4">
<tr><th>Tenant</th><th>Cluster</th><th>Replica</th><th>Elected at</th><th>Last update</th><th>Failover at</th></tr>
{{range .Rows}}<tr><td>{{.Tenant}}</td><td>{{.Cluster}}</td><td>{{.Replica}}</td><td>{{.ElectedAt.Format "2006-01-02T15:04:05Z07:00"}}</td><td>{{.UpdatedAt.Format "2006-01-02T15:04:05Z07:00"}}</td><td>{{.FailoverAt.Format "2006-01-02T15:04:05Z07:00"}}</td></tr>
{{end}}</table></body></html>
`))

// Status returns the live elections, sorted by tenant and cluster.
func (t *Tracker) Status() []Status {
	snap := t.Snapshot()
	out := make([]Status, 0, len(snap))
	for _, k := range slices.Sorted(maps.Keys(snap)) {
		e := snap[k]
		tn, cluster := splitKey(k)
		updated := time.UnixMilli(e.UpdatedAt).UTC()
		out = append(out, Status{
			Tenant: string(tn), Cluster: cluster, Replica: e.Replica,
			ElectedAt: time.UnixMilli(e.ElectedAt).UTC(), UpdatedAt: updated,
			FailoverAt: updated.Add(t.cfg.FailoverTimeout),
		})
	}
	return out
}

// Handler serves /distributor/ha_tracker: an HTML table, or JSON when the
// request accepts application/json. It is an operator endpoint: it shows
// every tenant.
func (t *Tracker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows := t.Status()
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(rows)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = statusPage.Execute(w, struct {
			Now  time.Time
			Rows []Status
		}{t.now().UTC(), rows})
	})
}
