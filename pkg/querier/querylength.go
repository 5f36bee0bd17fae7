package querier

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// queryLengthHandler refuses, before Prometheus's handlers run, a query
// whose time range exceeds the tenant's -querier.max-query-length, with
// Prometheus's 400 bad_data, as Cortex does. The time range is end - start
// of a range query or a series request (an absent bound is unbounded, as
// in Prometheus), and the window of every range selector or subquery of
// an expression (nested subqueries add up). A request that does not parse
// is passed on: Prometheus's handler reports the error.
type queryLengthHandler struct {
	next    http.Handler
	limits  Limits
	parser  parser.Parser
	logger  *slog.Logger
	metrics *metrics
}

func (h *queryLengthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.limits == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		h.next.ServeHTTP(w, r)
		return
	}
	limit := time.Duration(h.limits.For(id).MaxQueryLength)
	if limit <= 0 {
		h.next.ServeHTTP(w, r)
		return
	}
	length, ok := h.queryLength(r)
	if !ok || length <= limit {
		h.next.ServeHTTP(w, r)
		return
	}
	h.metrics.queriesTooLong.Inc()
	resp := &v1.Response{
		Status:    "error",
		ErrorType: "bad_data",
		Error:     fmt.Sprintf("the query time range exceeds the limit (query length: %s, limit: %s); the limit is -querier.max-query-length of tenant %q", length, limit, id),
	}
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	if _, err := w.Write(b); err != nil {
		h.logger.Debug("Writing query length error failed", "tenant", id, "err", err)
	}
}

// queryLength returns the time range of the request, and false when it
// cannot tell.
func (h *queryLengthHandler) queryLength(r *http.Request) (time.Duration, bool) {
	var length time.Duration
	switch {
	case strings.HasSuffix(r.URL.Path, "/query_range"), strings.HasSuffix(r.URL.Path, "/series"):
		start, ok := parseAPITime(r.FormValue("start"), math.MinInt64)
		if !ok {
			return 0, false
		}
		end, ok := parseAPITime(r.FormValue("end"), math.MaxInt64)
		if !ok {
			return 0, false
		}
		if end < start {
			return 0, false
		}
		if end-start < 0 { // Overflow: unbounded.
			return time.Duration(math.MaxInt64), true
		}
		length = time.Duration(min(end-start, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
	}
	if strings.HasSuffix(r.URL.Path, "/series") {
		return length, true
	}
	expr, err := h.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return 0, false
	}
	return max(length, selectorWindow(expr)), true
}

// selectorWindow is the longest range of data one selector of expr reads
// beyond its evaluation time: a range selector's range plus the ranges of
// the subqueries it is in.
func selectorWindow(expr parser.Expr) time.Duration {
	var longest time.Duration
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		var w time.Duration
		switch n := node.(type) {
		case *parser.MatrixSelector:
			w = n.Range
		case *parser.SubqueryExpr:
			w = n.Range
		default:
			return nil
		}
		for _, p := range path {
			if sq, ok := p.(*parser.SubqueryExpr); ok && sq != node {
				w += sq.Range
			}
		}
		longest = max(longest, w)
		return nil
	})
	return longest
}

// parseAPITime parses a Prometheus API time (Unix seconds with decimals,
// or RFC 3339) into milliseconds; empty is def.
func parseAPITime(s string, def int64) (int64, bool) {
	if s == "" {
		return def, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f*1000 >= math.MaxInt64 || f*1000 <= math.MinInt64 {
			return 0, false
		}
		return int64(math.Round(f * 1000)), true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}
