package querier

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// queryLengthHandler refuses, before Prometheus's handler runs, a series
// request whose time range (end - start; an absent bound is unbounded, as
// in Prometheus) exceeds the tenant's -querier.max-query-length, with
// Prometheus's 400 bad_data, as Cortex does. Queries are checked on their
// parsed expression by [tenantEngine] (see [queryLengthError]). A request
// whose times do not parse is passed on: Prometheus's handler reports the
// error.
type queryLengthHandler struct {
	next    http.Handler
	limits  Limits
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
	writeAPIError(w, http.StatusBadRequest, "bad_data", queryLengthError(length, limit, id).Error(), h.logger, id)
}

// queryLengthError is the error of a query or series request whose time
// range, length, exceeds the tenant's limit.
func queryLengthError(length, limit time.Duration, id tenant.ID) error {
	return fmt.Errorf("the query time range exceeds the limit (query length: %s, limit: %s); the limit is -querier.max-query-length of tenant %q (err-hearth-max-query-length)", length, limit, id)
}

// queryLength returns the time range of a series request, and false when
// it cannot tell.
func (h *queryLengthHandler) queryLength(r *http.Request) (time.Duration, bool) {
	start, ok := parseAPITime(r.FormValue("start"), math.MinInt64)
	if !ok {
		return 0, false
	}
	end, ok := parseAPITime(r.FormValue("end"), math.MaxInt64)
	if !ok || end < start {
		return 0, false
	}
	if end-start < 0 { // Overflow: unbounded.
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(min(end-start, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond, true
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
