package ring

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// InstanceStatus is one row of the ring status page.
type InstanceStatus struct {
	ID                  string    `json:"id"`
	State               string    `json:"state"`
	Healthy             bool      `json:"healthy"`
	Addr                string    `json:"addr"`
	Zone                string    `json:"zone,omitempty"`
	Heartbeat           time.Time `json:"heartbeat"`
	HeartbeatAgeSeconds float64   `json:"heartbeat_age_seconds"`
	Registered          time.Time `json:"registered,omitzero"`
	Tokens              int       `json:"tokens"`
	// Ownership is the share of the token space owned as first replica, in
	// percent.
	Ownership float64 `json:"ownership_percent"`
}

// Status is the ring status page's content.
type Status struct {
	Name              string           `json:"name"`
	ReplicationFactor int              `json:"replication_factor"`
	ZoneAware         bool             `json:"zone_awareness_enabled"`
	HeartbeatTimeout  string           `json:"heartbeat_timeout"`
	Instances         []InstanceStatus `json:"instances"`
}

// Status returns the ring's instances, sorted by ID, LEFT tombstones
// included.
func (r *Ring) Status() Status {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Status{
		Name:              r.name,
		ReplicationFactor: r.cfg.ReplicationFactor,
		ZoneAware:         r.cfg.ZoneAwarenessEnabled,
		HeartbeatTimeout:  r.cfg.HeartbeatTimeout.String(),
		Instances:         []InstanceStatus{},
	}
	for id, in := range r.desc.Instances {
		hb := time.UnixMilli(in.HeartbeatUnixMs)
		row := InstanceStatus{
			ID:                  id,
			State:               StateName(in.State),
			Healthy:             in.State != Left && r.healthy(&in, now.UnixMilli()),
			Addr:                in.Addr,
			Zone:                in.Zone,
			Heartbeat:           hb.UTC(),
			HeartbeatAgeSeconds: now.Sub(hb).Round(time.Millisecond).Seconds(),
			Tokens:              len(in.Tokens),
		}
		if in.RegisteredUnixMs != 0 {
			row.Registered = time.UnixMilli(in.RegisteredUnixMs).UTC()
		}
		if i, ok := slices.BinarySearchFunc(r.instances, id, func(e ringpb.InstanceDesc, id string) int { return strings.Compare(e.Id, id) }); ok {
			row.Ownership = r.ownership[i] * 100
		}
		s.Instances = append(s.Instances, row)
	}
	slices.SortFunc(s.Instances, func(a, b InstanceStatus) int { return strings.Compare(a.ID, b.ID) })
	return s
}

// ServeHTTP serves the ring status page (mount it at /ring, or
// /<component>/ring, on the operator listener): GET shows an HTML table, or
// JSON when the request accepts application/json; POST with form field
// "forget=<instance id>" forgets that instance (see [Ring.Forget]) and
// redirects back to the page.
func (r *Ring) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		r.serveForget(w, req)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s := r.Status()
	if wantsJSON(req) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusTemplate.Execute(w, s)
}

func (r *Ring) serveForget(w http.ResponseWriter, req *http.Request) {
	id := req.FormValue("forget")
	if id == "" {
		http.Error(w, `form field "forget" (an instance ID) is required`, http.StatusBadRequest)
		return
	}
	if err := r.Forget(req.Context(), id); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrUnknownInstance) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return
	}
	if wantsJSON(req) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"forgotten": id})
		return
	}
	http.Redirect(w, req, req.URL.Path, http.StatusSeeOther)
}

func wantsJSON(req *http.Request) bool {
	return strings.Contains(req.Header.Get("Accept"), "application/json")
}

var statusTemplate = template.Must(template.New("ring").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Name}} ring</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}.unhealthy{background:#fdd}</style>
</head><body>
<h1>{{.Name}} ring</h1>
<p>Replication factor {{.ReplicationFactor}}, heartbeat timeout {{.HeartbeatTimeout}}{{if .ZoneAware}}, zone-aware{{end}}.</p>
<table>
<tr><th>Instance</th><th>State</th><th>Address</th><th>Zone</th><th>Last heartbeat</th><th>Tokens</th><th>Ownership</th><th></th></tr>
{{range .Instances}}<tr{{if not .Healthy}} class="unhealthy"{{end}}>
<td>{{.ID}}</td><td>{{.State}}{{if and (not .Healthy) (ne .State "LEFT")}} (unhealthy){{end}}</td><td>{{.Addr}}</td><td>{{.Zone}}</td>
<td>{{printf "%.1f" .HeartbeatAgeSeconds}}s ago</td><td>{{.Tokens}}</td><td>{{printf "%.2f" .Ownership}}%</td>
<td>{{if ne .State "LEFT"}}<form method="post"><input type="hidden" name="forget" value="{{.ID}}"><button type="submit">Forget</button></form>{{end}}</td>
</tr>
{{end}}</table>
</body></html>
`))
