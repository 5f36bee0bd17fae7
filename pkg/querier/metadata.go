package querier

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/promql"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// metadataHandler serves GET <prefix>/api/v1/metadata from the ingesters'
// metric metadata, with Prometheus's parameters (metric, limit,
// limit_per_metric) and response shape. Prometheus answers it from its
// scrape targets, which Hearth does not have, so this is the one endpoint
// not served by Prometheus's own handler.
type metadataHandler struct {
	q      *Queryable
	logger *slog.Logger
}

func (h *metadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit, limitPerMetric := -1, -1
	if s := r.FormValue("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil {
			h.respondError(w, r, "bad_data", errors.New("limit must be a number"))
			return
		}
	}
	if s := r.FormValue("limit_per_metric"); s != "" {
		var err error
		if limitPerMetric, err = strconv.Atoi(s); err != nil {
			h.respondError(w, r, "bad_data", errors.New("limit_per_metric must be a number"))
			return
		}
	}
	res, err := h.q.metricMetadata(r.Context(), r.FormValue("metric"), limit, limitPerMetric)
	if err != nil {
		typ := "internal"
		var limitErr *QueryLimitError
		var timeout promql.ErrQueryTimeout
		var canceled promql.ErrQueryCanceled
		var unavailable *UnavailableError
		switch {
		case errors.As(err, &limitErr):
			typ = "execution"
		case errors.As(err, &timeout):
			typ = "timeout"
		case errors.As(err, &canceled):
			typ = "canceled"
		case errors.As(err, &unavailable):
			typ = "unavailable"
		}
		h.respondError(w, r, typ, err)
		return
	}
	h.respond(w, r, http.StatusOK, &v1.Response{Status: "success", Data: res})
}

// errorStatus is Prometheus's HTTP status of each error type, with
// "unavailable" made 503 as statusCode does for the other endpoints.
var errorStatus = map[string]int{
	"bad_data":    http.StatusBadRequest,
	"execution":   http.StatusUnprocessableEntity,
	"canceled":    499,
	"timeout":     http.StatusServiceUnavailable,
	"unavailable": http.StatusServiceUnavailable,
	"internal":    http.StatusInternalServerError,
}

func (h *metadataHandler) respondError(w http.ResponseWriter, r *http.Request, typ string, err error) {
	h.respond(w, r, errorStatus[typ], &v1.Response{Status: "error", ErrorType: typ, Error: err.Error()})
}

func (h *metadataHandler) respond(w http.ResponseWriter, r *http.Request, code int, resp *v1.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if _, err := w.Write(b); err != nil {
		id, _ := tenant.FromContext(r.Context())
		h.logger.Debug("Writing metadata response failed", "tenant", id, "err", err)
	}
}

// metricMetadata fans MetricMetadata out and merges the answers the way
// Prometheus merges its targets' metadata: per metric family, distinct
// entries, at most limitPerMetric of them and limit families (negative means
// no limit).
func (q *Queryable) metricMetadata(ctx context.Context, metric string, limit, limitPerMetric int) (map[string][]metadata.Metadata, error) {
	req := &ingesterpb.MetricMetadataRequest{Metric: metric, Limit: int64(max(limit, 0)), LimitPerMetric: int64(max(limitPerMetric, 0))}
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	// A federated request (tenant federation) reads each of its tenants;
	// metadata carries no series labels, so the answers just merge.
	var results []any
	for _, t := range id.Tenants() {
		rs, err := q.fanout(tenant.WithID(ctx, t), "metric_metadata", func(ctx context.Context, c ingesterpb.IngesterClient) (any, error) {
			resp, err := c.MetricMetadata(ctx, req)
			if err != nil {
				return nil, err
			}
			return resp.Metadata, nil
		})
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	sets := map[string]map[metadata.Metadata]struct{}{}
	for _, r := range results {
		for _, m := range r.([]ingesterpb.MetricMetadata) {
			if metric != "" && m.MetricFamilyName != metric {
				continue
			}
			set, ok := sets[m.MetricFamilyName]
			if !ok {
				set = map[metadata.Metadata]struct{}{}
				sets[m.MetricFamilyName] = set
			}
			set[m.ToMetadata()] = struct{}{}
		}
	}
	names := make([]string, 0, len(sets))
	for name := range sets {
		names = append(names, name)
	}
	slices.Sort(names)
	res := map[string][]metadata.Metadata{}
	for _, name := range names {
		if limit >= 0 && len(res) >= limit {
			break
		}
		ms := make([]metadata.Metadata, 0, len(sets[name]))
		for m := range sets[name] {
			ms = append(ms, m)
		}
		slices.SortFunc(ms, func(a, b metadata.Metadata) int {
			if c := strings.Compare(string(a.Type), string(b.Type)); c != 0 {
				return c
			}
			if c := strings.Compare(a.Help, b.Help); c != 0 {
				return c
			}
			return strings.Compare(a.Unit, b.Unit)
		})
		if limitPerMetric > 0 && len(ms) > limitPerMetric {
			ms = ms[:limitPerMetric]
		}
		res[name] = ms
	}
	return res, nil
}
