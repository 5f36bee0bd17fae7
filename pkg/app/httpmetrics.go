package app

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// instrumentRoutes wraps the public listener's handler with
// hearth_http_request_duration_seconds, by route and status code: the
// latency tenants see, which the mixin's read and write dashboards and the
// query latency SLO alert read. The route label comes from a fixed list
// (see [routeLabel]), so a tenant cannot create series by choosing paths.
func instrumentRoutes(reg prometheus.Registerer, mux *http.ServeMux) http.Handler {
	duration := promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{
		Name: "hearth_http_request_duration_seconds",
		Help: "Time to answer a request on the public listener, by route (api_v1_push, prometheus_api_v1_query_range, ...; other for the rest) and status code.",
		// From 5ms (a push, a cached label query) to 2 minutes (the
		// querier's default timeout).
		Buckets:                         []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"route", "status_code"})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(sw, r)
		duration.WithLabelValues(routeLabel(r.URL.Path), strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

// routeLabel names the public route a path belongs to, from a fixed set.
func routeLabel(path string) string {
	switch path {
	case "/api/v1/push", "/api/prom/push":
		return "api_v1_push"
	case "/otlp/v1/metrics":
		return "otlp_v1_metrics"
	case "/ready":
		return "ready"
	}
	if rest, ok := strings.CutPrefix(path, "/prometheus/api/v1/"); ok {
		endpoint, _, _ := strings.Cut(rest, "/")
		switch endpoint {
		case "query", "query_range", "query_exemplars", "series", "labels", "label", "metadata",
			"read", "format_query", "parse_query", "status", "rules", "alerts", "cardinality", "admin":
			return "prometheus_api_v1_" + endpoint
		}
		return "prometheus_api_v1_other"
	}
	if strings.HasPrefix(path, "/prometheus/config/v1/rules") {
		return "prometheus_config_v1_rules"
	}
	if path == "/prometheus/federate" {
		return "prometheus_federate"
	}
	return "other"
}

// statusWriter records the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush,
// deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// tenantRequests counts each tenant's authenticated requests and the time
// they took, by route: the mixin's per-tenant dashboard ("who queries how
// much"). Only authenticated tenants are counted, so the series are bounded
// by the tenants that hold keys; there is no latency histogram per tenant
// (routes × buckets × tenants would be too many series).
type tenantRequests struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.CounterVec
}

func newTenantRequests(reg prometheus.Registerer) *tenantRequests {
	f := promauto.With(reg)
	return &tenantRequests{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_tenant_requests_total",
			Help: "Authenticated requests on the public listener, by tenant and route (see hearth_http_request_duration_seconds).",
		}, []string{"tenant", "route"}),
		seconds: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_tenant_request_seconds_total",
			Help: "Time spent answering authenticated requests on the public listener, by tenant and route.",
		}, []string{"tenant", "route"}),
	}
}

// wrap counts the requests next serves; it runs behind the authentication
// middleware, which put the tenant in the context.
func (t *tenantRequests) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.FromContext(r.Context())
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		next.ServeHTTP(w, r)
		route := routeLabel(r.URL.Path)
		t.requests.WithLabelValues(string(id), route).Inc()
		t.seconds.WithLabelValues(string(id), route).Add(time.Since(start).Seconds())
	})
}
