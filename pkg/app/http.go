package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/services"
)

// registerCommonRoutes mounts what every process serves: /ready on both
// listeners (load balancers probe the public one, which says only whether
// the process is ready; detail, optional, adds the components' state on the
// operator listener), and /metrics, /config, /services and pprof on the
// operator listener only (metric labels name tenants).
func registerCommonRoutes(public, internal *http.ServeMux, reg *prometheus.Registry, mgr func() *services.Manager, cfg *Config, detail func(*readyReport)) {
	internal.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	internal.HandleFunc("/debug/pprof/", pprof.Index)
	internal.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	internal.HandleFunc("/debug/pprof/profile", pprof.Profile)
	internal.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	internal.HandleFunc("/debug/pprof/trace", pprof.Trace)
	public.Handle("GET /ready", readyHandler(mgr, nil))
	registerHints(public, cfg)
	internal.Handle("GET /ready", readyHandler(mgr, detail))
	internal.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/yaml; charset=utf-8")
		out, err := yaml.Marshal(cfg.redacted())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(out)
	})
	internal.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		m := mgr()
		type svc struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Error string `json:"error,omitempty"`
		}
		var list []svc
		if m != nil {
			for _, s := range m.Services() {
				e := ""
				if err := s.Err(); err != nil {
					e = err.Error()
				}
				list = append(list, svc{Name: s.Name(), State: s.State().String(), Error: e})
			}
		}
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(list)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, s := range list {
			fmt.Fprintf(w, "%-20s %s %s\n", s.Name, s.State, s.Error)
		}
	})
}
