package frontend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/hearthmetrics/hearth/pkg/frontend/queue"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

const (
	// maxRequestBodyBytes bounds a query request's body (a POSTed form or
	// a remote-read request): Prometheus's queries are a few KiB.
	maxRequestBodyBytes = 10 << 20
	// StatsHeader asks for the request's figures in a Server-Timing
	// response header when its value is "true".
	StatsHeader = "X-Hearth-Query-Stats"
	// gzipMinBytes: smaller responses are sent as they are (gzip's header
	// and a round of compression cost more than they save).
	gzipMinBytes = 1024
)

// Handler serves the Prometheus API under the prefix: every request goes
// through the middleware and the queue to a querier. The request must
// carry its tenant in its context (pkg/app authenticates it with read
// scope first).
func (f *Frontend) Handler() http.Handler { return f.handler }

func (f *Frontend) newHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := tenant.FromContext(r.Context())
		if err != nil {
			writeError(w, http.StatusUnauthorized, "bad_data", "no tenant: "+err.Error())
			return
		}
		// Counted before the check, so a drain that saw no query in flight
		// cannot miss this one.
		f.inflight.Add(1)
		defer f.inflight.Add(-1)
		if f.stopping.Load() {
			writeError(w, http.StatusServiceUnavailable, "unavailable", queue.ErrStopped.Error())
			return
		}
		release, err := f.admit.admit(id)
		if err != nil {
			code, typ := errorStatus(r.Context(), err)
			writeError(w, code, typ, err.Error())
			f.queries.WithLabelValues(string(id), strconv.Itoa(code)).Inc()
			return
		}
		defer release()
		stats := &Stats{}
		ctx := ContextWithStats(r.Context(), stats)
		// The body is read now, bounded, so the middlewares and every retry
		// see it whole; a form body is parsed for the slow-query log.
		var body []byte
		if r.Body != nil {
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBodyBytes))
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					writeError(w, http.StatusRequestEntityTooLarge, "bad_data", fmt.Sprintf("request body larger than %d bytes", maxRequestBodyBytes))
					return
				}
				writeError(w, http.StatusBadRequest, "bad_data", "reading the request body: "+err.Error())
				return
			}
		}
		req := r.Clone(ctx)
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(body))), nil }

		resp, err := f.rt.RoundTrip(req)
		code := f.writeResponse(w, r, resp, err, stats, start)
		elapsed := time.Since(start)
		f.queries.WithLabelValues(string(id), strconv.Itoa(code)).Inc()
		f.duration.WithLabelValues(string(id)).Observe(elapsed.Seconds())
		if f.cfg.LogQueriesLongerThan > 0 && elapsed > f.cfg.LogQueriesLongerThan {
			f.logSlow(r, body, id, code, elapsed, stats.Snapshot())
		}
	})
}

// writeResponse writes the response, or the error as Prometheus's error
// JSON, and returns the status code written.
func (f *Frontend) writeResponse(w http.ResponseWriter, r *http.Request, resp *http.Response, err error, stats *Stats, start time.Time) int {
	if err != nil {
		code, typ := errorStatus(r.Context(), err)
		writeError(w, code, typ, err.Error())
		return code
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	if r.Header.Get(StatsHeader) == "true" {
		w.Header().Set("Server-Timing", serverTiming(stats.Snapshot(), time.Since(start)))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "reading the querier's response: "+err.Error())
		return http.StatusInternalServerError
	}
	if len(body) >= gzipMinBytes && w.Header().Get("Content-Encoding") == "" && acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		w.WriteHeader(resp.StatusCode)
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		_, _ = gz.Write(body)
		_ = gz.Close()
		gz.Reset(nil)
		gzipWriters.Put(gz)
		return resp.StatusCode
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return resp.StatusCode
}

// errorStatus maps a round-trip error to its HTTP status and Prometheus
// error type: the one place where that happens.
func errorStatus(ctx context.Context, err error) (int, string) {
	var tooMany *TooManyRequestsError
	switch {
	case errors.As(err, &tooMany):
		return http.StatusTooManyRequests, "too_many_requests"
	case errors.Is(err, queue.ErrStopped):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, ErrQuerierLost):
		return http.StatusServiceUnavailable, "unavailable"
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The client went away: nobody reads this. 499 as nginx and
		// Cortex log it.
		return 499, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timeout"
	}
	return http.StatusInternalServerError, "internal"
}

// apiError is Prometheus's error JSON.
func apiError(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}{"error", typ, msg})
	return b
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(apiError(typ, msg))
}

// gzipWriters are reused: a new writer allocates its compressor's state
// (about 1 MB), more than most responses. klauspost's gzip, as
// Prometheus's API compresses with, at the same default level: 3-4x less
// CPU than compress/gzip for the same response.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// acceptsGzip reports whether the client takes gzip (q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// serverTiming formats the request's figures as a Server-Timing header
// (durations in milliseconds, counts as descriptions).
func serverTiming(s StatsSnapshot, total time.Duration) string {
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	}
	parts := []string{
		"total;dur=" + ms(total),
		"queue;dur=" + ms(s.QueueTime),
		"querier;dur=" + ms(s.QuerierTime),
		fmt.Sprintf("subqueries;desc=\"%d\"", s.Subqueries),
		fmt.Sprintf("retries;desc=\"%d\"", s.Retries),
	}
	if s.Shards > 0 {
		parts = append(parts, fmt.Sprintf("shards;desc=\"%d\"", s.Shards))
	}
	if ratio := s.CacheHitRatio(); ratio >= 0 {
		parts = append(parts, fmt.Sprintf("cache_hit_ratio;desc=\"%.3f\"", ratio))
	}
	if s.SamplesProcessed > 0 {
		parts = append(parts, fmt.Sprintf("samples;desc=\"%d\"", s.SamplesProcessed))
	}
	return strings.Join(parts, ", ")
}

// logSlow logs a query slower than -frontend.log-queries-longer-than.
func (f *Frontend) logSlow(r *http.Request, body []byte, id tenant.ID, code int, elapsed time.Duration, s StatsSnapshot) {
	params := r.URL.Query()
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range form {
				params[k] = append(params[k], vs...)
			}
		}
	}
	attrs := []any{
		"tenant", id, "path", r.URL.Path, "code", code, "time_taken", elapsed,
		"query", truncate(params.Get("query"), 4096), "start", params.Get("start"), "end", params.Get("end"), "step", params.Get("step"),
		"queue_time", s.QueueTime, "querier_time", s.QuerierTime, "subqueries", s.Subqueries, "retries", s.Retries,
		"shards", s.Shards, "samples_processed", s.SamplesProcessed,
	}
	if ratio := s.CacheHitRatio(); ratio >= 0 {
		attrs = append(attrs, "cache_hit_ratio", ratio)
	}
	f.logger.LogAttrs(r.Context(), slog.LevelInfo, "Slow query", argsToAttrs(attrs)...)
}

func argsToAttrs(args []any) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		attrs = append(attrs, slog.Any(args[i].(string), args[i+1]))
	}
	return attrs
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// RulerPaths are the paths under the prefix that the rulers own: rules
// configuration (Cortex's API), and Prometheus's rules and alerts state.
func RulerPaths(prefix string) []string {
	return []string{prefix + "/config/v1/rules", prefix + "/config/v1/rules/", prefix + "/api/v1/rules", prefix + "/api/v1/alerts"}
}

// RulerProxy returns a handler that forwards requests, credentials and
// all, to -frontend.ruler-url, or nil when it is not set. The ruler
// authenticates them itself (the rules scope for configuration).
func (f *Frontend) RulerProxy() http.Handler {
	if f.cfg.RulerURL == "" {
		return nil
	}
	target, _ := url.Parse(f.cfg.RulerURL) // Validated.
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.logger.Warn("Proxying to the ruler failed", "path", r.URL.Path, "err", err, "flag", "-frontend.ruler-url")
			writeError(w, http.StatusBadGateway, "unavailable", "the ruler did not answer")
		},
		ErrorLog: slog.NewLogLogger(f.logger.Handler(), slog.LevelWarn),
	}
}
