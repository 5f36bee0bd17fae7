package app

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Near misses: paths people (and Grafana's "Save & test") try when they
// have the wrong URL. They get a 404 naming the right path instead of a
// bare one. The hints are registered as their own routes, so they answer
// before authentication and its scope check (/prometheus/api/v1/push lies
// inside the read-scoped API subtree), and only for these exact paths: a
// path a component owns or will own (the ruler's /api/v1/rules, the
// Alertmanager's /api/v1/alerts, Cortex's /api/prom/rules) is never
// registered here.

// remoteWriteMisses are paths remote-write senders are pointed at by
// mistake, relative to the root; the querier's prefix is added to the ones
// below it by registerHints.
var remoteWriteMisses = []string{
	"/push", "/write", "/receive",
	"/api/v1/write", "/api/v1/receive", "/api/v2/write",
	"/api/prom/api/v1/push",
}

// prometheusAPIPaths are the Prometheus API endpoints the querier serves,
// relative to <prefix>/api/v1: asked for without the prefix (or under
// Cortex's old /api/prom prefix) they get the prefix hint.
var prometheusAPIPaths = []string{
	"/query", "/query_range", "/query_exemplars", "/format_query", "/parse_query",
	"/series", "/labels", "/label/{name}/values", "/metadata", "/read",
	"/status/buildinfo", "/status/runtimeinfo", "/status/tsdb",
}

// registerHints mounts the near-miss answers on the public mux.
func registerHints(mux *http.ServeMux, cfg *Config) {
	prefix := cfg.Querier.HTTPPrefix
	// A pattern is registered once (a second registration panics), and
	// never one the querier serves (with -querier.http-prefix=/api/prom,
	// /api/prom/api/v1/query is real).
	seen := map[string]bool{}
	public := handleFunc(func(pattern string, h http.Handler) {
		if seen[pattern] || (prefix != "" && strings.HasPrefix(pattern, prefix+"/api/v1/") && !strings.HasSuffix(pattern, "/push") && !strings.HasSuffix(pattern, "/write")) {
			return
		}
		seen[pattern] = true
		mux.Handle(pattern, h)
	})
	writeHint := "remote write is POST /api/v1/push"
	if !cfg.has(TargetDistributor) {
		writeHint += " on a distributor; this process runs " + cfg.Target.String()
	}
	miss := hintHandler(http.StatusNotFound, writeHint)
	for _, p := range remoteWriteMisses {
		public.Handle(p, miss)
	}
	if prefix != "" {
		for _, p := range []string{"/push", "/api/v1/push", "/api/v1/write", "/api/prom/push"} {
			public.Handle(prefix+p, miss)
		}
		apiHint := hintHandler(http.StatusNotFound, "the Prometheus API is under "+prefix+": use http://<this host>"+prefix+" as the Prometheus (Grafana datasource) URL")
		for _, p := range prometheusAPIPaths {
			public.Handle("/api/v1"+p, apiHint)
			public.Handle("/api/prom/api/v1"+p, apiHint)
		}
	}
	// The right path with the wrong method (a browser's GET): the methods
	// the distributor registers win over these.
	for _, p := range []string{"/api/v1/push", "/api/prom/push"} {
		if cfg.has(TargetDistributor) {
			public.Handle(p, hintHandler(http.StatusMethodNotAllowed, "remote write is POST "+p+" with a snappy-compressed protobuf body, as Prometheus's remote_write sends"))
		} else {
			public.Handle(p, miss)
		}
	}
	// The operator API asked of the public listener (`hearth keys --addr`
	// given the public port): name the listener, not its address, which
	// tenants need not know.
	public.Handle("/admin/", hintHandler(http.StatusNotFound, "tenant administration is on the operator listener (-server.internal-listen-address, 127.0.0.1:9010 by default), with the operator token: hearth keys ... --addr http://<operator address>"))
}

// handleFunc registers a handler for a pattern.
type handleFunc func(pattern string, h http.Handler)

// Handle registers h for pattern.
func (f handleFunc) Handle(pattern string, h http.Handler) { f(pattern, h) }

// operatorMiss is the hint for a tenant's request (a push, a query) sent to
// the operator listener, or "" when path is not one. publicAddr is the
// public listener's address, which the operator may tell anyone.
func operatorMiss(path, prefix, publicAddr string) string {
	tenantPath := path == "/api/v1/push" || path == "/api/prom/push" ||
		(prefix != "" && (path == prefix || strings.HasPrefix(path, prefix+"/")))
	if !tenantPath {
		return ""
	}
	return "this is the operator listener; tenants' remote write and queries are served on the public listener (-server.http-listen-address=" + publicAddr + ")"
}

// hintHandler answers status with msg: in Prometheus's JSON error format on
// API paths (Grafana shows its "error" field), as text elsewhere.
func hintHandler(status int, msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeHint(w, r, status, msg)
	})
}

func writeHint(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	if !strings.Contains(r.URL.Path, "/api/") {
		http.Error(w, msg, status)
		return
	}
	errorType := "not_found"
	if status == http.StatusMethodNotAllowed {
		errorType = "bad_data"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}{"error", errorType, msg})
}
