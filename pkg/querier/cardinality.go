package querier

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

const (
	// cardinalityDefaultLimit and cardinalityMaxLimit bound the items of
	// a cardinality answer, as in Mimir.
	cardinalityDefaultLimit = 20
	cardinalityMaxLimit     = 500
	// activeWindow is how recent a series' last sample must be for the
	// series to count as active (count_method=active, active_series):
	// Mimir's -ingester.active-series-metrics-idle-timeout.
	activeWindow = 10 * time.Minute
)

// cardinalityHandler serves Mimir's cardinality API under
// <prefix>/api/v1/cardinality/: label_names, label_values and
// active_series, with Mimir's parameters and JSON answers, for a tenant
// whose cardinality_analysis_enabled limit is set. Every answer is
// computed from the label sets of the tenant's series in the ingesters
// (their Series call), read at most -querier.cardinality-analysis-max-series
// per ingester: a request that would read more is refused with 422 before
// anything is counted, so its memory is bounded by the limit.
type cardinalityHandler struct {
	q       *Queryable
	parser  parser.Parser
	logger  *slog.Logger
	metrics *metrics
}

// cardinalityRequest is what the three endpoints share.
type cardinalityRequest struct {
	tenant   tenant.ID
	matchers []*labels.Matcher // nil: every series.
	limit    int
	active   bool // Only series with a sample in the last activeWindow.
}

// Mimir's JSON answers.
type (
	labelNamesCardinalityResponse struct {
		LabelValuesCountTotal int                     `json:"label_values_count_total"`
		LabelNamesCount       int                     `json:"label_names_count"`
		Cardinality           []labelNamesCardinality `json:"cardinality"`
	}
	labelNamesCardinality struct {
		LabelName        string `json:"label_name"`
		LabelValuesCount int    `json:"label_values_count"`
	}
	labelValuesCardinalityResponse struct {
		SeriesCountTotal int                      `json:"series_count_total"`
		Labels           []labelValuesCardinality `json:"labels"`
	}
	labelValuesCardinality struct {
		LabelName        string                  `json:"label_name"`
		LabelValuesCount int                     `json:"label_values_count"`
		SeriesCount      int                     `json:"series_count"`
		Cardinality      []labelValueCardinality `json:"cardinality"`
	}
	labelValueCardinality struct {
		LabelValue  string `json:"label_value"`
		SeriesCount int    `json:"series_count"`
	}
	activeSeriesResponse struct {
		Data []map[string]string `json:"data"`
	}
)

// register routes the three endpoints, GET and POST, through wrap.
func (h *cardinalityHandler) register(mux *http.ServeMux, apiPrefix string, wrap func(http.Handler) http.Handler) {
	for path, f := range map[string]func(http.ResponseWriter, *http.Request, cardinalityRequest){
		"/cardinality/label_names":   h.labelNames,
		"/cardinality/label_values":  h.labelValues,
		"/cardinality/active_series": h.activeSeries,
	} {
		hf := wrap(h.handle(path == "/cardinality/active_series", f))
		mux.Handle("GET "+apiPrefix+path, hf)
		mux.Handle("POST "+apiPrefix+path, hf)
	}
}

// handle checks what the endpoints share before f runs: the tenant's
// limit, selector, limit and count_method.
func (h *cardinalityHandler) handle(selectorRequired bool, f func(http.ResponseWriter, *http.Request, cardinalityRequest)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.FromContext(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if h.q.limits == nil || !h.q.limits.For(id).CardinalityAnalysisEnabled {
			h.bad(w, id, fmt.Sprintf("the cardinality API is disabled for tenant %q: its limit cardinality_analysis_enabled (-querier.cardinality-analysis-enabled) is false", id))
			return
		}
		if err := r.ParseForm(); err != nil {
			h.bad(w, id, "parsing the form values: "+err.Error())
			return
		}
		req := cardinalityRequest{tenant: id, limit: cardinalityDefaultLimit}
		if s := r.Form.Get("selector"); s != "" {
			req.matchers, err = h.parser.ParseMetricSelector(s)
			if err != nil {
				h.bad(w, id, fmt.Sprintf("selector %q is not a valid series selector: %v", s, err))
				return
			}
		} else if selectorRequired {
			h.bad(w, id, `the selector parameter is required, a series selector such as selector={job="api"}`)
			return
		}
		if s := r.Form.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			switch {
			case err != nil:
				h.bad(w, id, fmt.Sprintf("limit %q is not an integer", s))
				return
			case n < 0 || n > cardinalityMaxLimit:
				h.bad(w, id, fmt.Sprintf("limit is %d, must be between 0 and %d", n, cardinalityMaxLimit))
				return
			case n > 0:
				req.limit = n
			}
		}
		switch m := r.Form.Get("count_method"); m {
		case "", "inmemory":
			req.active = selectorRequired // active_series counts active series only.
		case "active":
			req.active = true
		default:
			h.bad(w, id, fmt.Sprintf("count_method is %q, must be inmemory or active", m))
			return
		}
		h.metrics.tenantQueries.WithLabelValues(string(id), "cardinality").Inc()
		f(w, r, req)
	})
}

// series reads the label sets of the series req selects, deduplicated
// across the ingesters' replicas.
func (h *cardinalityHandler) series(ctx context.Context, req cardinalityRequest) ([]labels.Labels, error) {
	maxSeries := h.q.limits.For(req.tenant).CardinalityAnalysisMaxSeries
	sreq := &ingesterpb.SeriesRequest{StartMs: math.MinInt64, EndMs: math.MaxInt64}
	if req.active {
		sreq.StartMs = h.q.now().Add(-activeWindow).UnixMilli()
	}
	if maxSeries > 0 {
		sreq.Limit = int64(maxSeries) + 1
	}
	if len(req.matchers) > 0 {
		pb, err := ingesterpb.FromLabelMatchers(req.matchers)
		if err != nil {
			return nil, err
		}
		sreq.MatcherSets = []ingesterpb.MatcherSet{{Matchers: pb}}
	}
	results, err := h.q.fanout(ctx, "cardinality", func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
		return c.Series(ctx, sreq)
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]struct{}{}
	var out []labels.Labels
	var buf []byte
	for _, res := range results {
		resp := res.(*ingesterpb.SeriesResponse)
		if maxSeries > 0 && len(resp.Series) > maxSeries {
			return nil, &QueryLimitError{Message: fmt.Sprintf("the cardinality request selects more than %d series in one ingester, the limit -querier.cardinality-analysis-max-series of tenant %q; narrow it with a selector", maxSeries, req.tenant)}
		}
		for _, s := range resp.Series {
			ls := ingesterpb.ToLabels(s.Labels)
			buf = ls.Bytes(buf[:0])
			if _, ok := seen[string(buf)]; ok {
				continue
			}
			seen[string(buf)] = struct{}{}
			out = append(out, ls)
		}
	}
	if maxSeries > 0 && len(out) > maxSeries {
		return nil, &QueryLimitError{Message: fmt.Sprintf("the cardinality request selects more than %d series, the limit -querier.cardinality-analysis-max-series of tenant %q; narrow it with a selector", maxSeries, req.tenant)}
	}
	return out, nil
}

func (h *cardinalityHandler) labelNames(w http.ResponseWriter, r *http.Request, req cardinalityRequest) {
	series, err := h.series(r.Context(), req)
	if err != nil {
		h.fail(w, req.tenant, err)
		return
	}
	values := map[string]map[string]struct{}{}
	for _, ls := range series {
		ls.Range(func(l labels.Label) {
			v, ok := values[l.Name]
			if !ok {
				v = map[string]struct{}{}
				values[l.Name] = v
			}
			v[l.Value] = struct{}{}
		})
	}
	resp := labelNamesCardinalityResponse{LabelNamesCount: len(values), Cardinality: []labelNamesCardinality{}}
	for name, v := range values {
		resp.LabelValuesCountTotal += len(v)
		resp.Cardinality = append(resp.Cardinality, labelNamesCardinality{LabelName: name, LabelValuesCount: len(v)})
	}
	slices.SortFunc(resp.Cardinality, func(a, b labelNamesCardinality) int {
		return cmp.Or(cmp.Compare(b.LabelValuesCount, a.LabelValuesCount), cmp.Compare(a.LabelName, b.LabelName))
	})
	resp.Cardinality = resp.Cardinality[:min(len(resp.Cardinality), req.limit)]
	h.write(w, req.tenant, resp)
}

func (h *cardinalityHandler) labelValues(w http.ResponseWriter, r *http.Request, req cardinalityRequest) {
	names := r.Form["label_names[]"]
	if len(names) == 0 {
		h.bad(w, req.tenant, "the label_names[] parameter is required: the label names whose values to count")
		return
	}
	if maxNames := h.q.limits.For(req.tenant).LabelValuesMaxCardinalityLabelNamesPerRequest; maxNames > 0 && len(names) > maxNames {
		h.bad(w, req.tenant, fmt.Sprintf("label_names[] has %d names, more than %d, the limit -querier.label-values-max-cardinality-label-names-per-request of tenant %q", len(names), maxNames, req.tenant))
		return
	}
	for _, n := range names {
		if !model.UTF8Validation.IsValidLabelName(n) {
			h.bad(w, req.tenant, fmt.Sprintf("label_names[] %q is not a valid label name", n))
			return
		}
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	series, err := h.series(r.Context(), req)
	if err != nil {
		h.fail(w, req.tenant, err)
		return
	}
	resp := labelValuesCardinalityResponse{SeriesCountTotal: len(series), Labels: []labelValuesCardinality{}}
	for _, name := range names {
		counts := map[string]int{}
		item := labelValuesCardinality{LabelName: name, Cardinality: []labelValueCardinality{}}
		for _, ls := range series {
			if v := ls.Get(name); v != "" {
				counts[v]++
				item.SeriesCount++
			}
		}
		item.LabelValuesCount = len(counts)
		for v, n := range counts {
			item.Cardinality = append(item.Cardinality, labelValueCardinality{LabelValue: v, SeriesCount: n})
		}
		slices.SortFunc(item.Cardinality, func(a, b labelValueCardinality) int {
			return cmp.Or(cmp.Compare(b.SeriesCount, a.SeriesCount), cmp.Compare(a.LabelValue, b.LabelValue))
		})
		item.Cardinality = item.Cardinality[:min(len(item.Cardinality), req.limit)]
		resp.Labels = append(resp.Labels, item)
	}
	slices.SortStableFunc(resp.Labels, func(a, b labelValuesCardinality) int {
		return cmp.Or(cmp.Compare(b.SeriesCount, a.SeriesCount), cmp.Compare(a.LabelName, b.LabelName))
	})
	h.write(w, req.tenant, resp)
}

func (h *cardinalityHandler) activeSeries(w http.ResponseWriter, r *http.Request, req cardinalityRequest) {
	if err := needSelective(req.matchers); err != nil {
		h.bad(w, req.tenant, "selector: "+err.Error())
		return
	}
	series, err := h.series(r.Context(), req)
	if err != nil {
		h.fail(w, req.tenant, err)
		return
	}
	slices.SortFunc(series, labels.Compare)
	resp := activeSeriesResponse{Data: make([]map[string]string, 0, len(series))}
	for _, ls := range series {
		resp.Data = append(resp.Data, ls.Map())
	}
	h.write(w, req.tenant, resp)
}

func (h *cardinalityHandler) write(w http.ResponseWriter, id tenant.ID, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.logger.Debug("Writing a cardinality answer failed", "tenant", id, "err", err)
	}
}

// bad answers 400 with msg in Prometheus's JSON error, as Mimir does.
func (h *cardinalityHandler) bad(w http.ResponseWriter, id tenant.ID, msg string) {
	writeAPIError(w, http.StatusBadRequest, "bad_data", msg, h.logger, id)
}

// fail answers a read error: 422 for a limit, 503 when the ingesters
// could not be read.
func (h *cardinalityHandler) fail(w http.ResponseWriter, id tenant.ID, err error) {
	var limitErr *QueryLimitError
	status, typ := http.StatusServiceUnavailable, "unavailable"
	switch {
	case errors.As(err, &limitErr):
		status, typ = http.StatusUnprocessableEntity, "execution"
	case errors.Is(err, context.Canceled):
		status, typ = 499, "canceled"
	}
	if status == http.StatusServiceUnavailable {
		h.logger.Warn("Cardinality request failed", "tenant", id, "err", err)
	}
	writeAPIError(w, status, typ, err.Error(), h.logger, id)
}
