package querier

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/queryshard"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Tombstoner records series deletions in the long-term store; *chunk.Store
// implements it. When [Deps.Store] implements it, delete_series writes a
// tombstone that the store honours at query time and retention applies.
type Tombstoner interface {
	AddTombstone(ctx context.Context, tenant string, t chunk.Tombstone) error
}

// BumpCacheGeneration invalidates a tenant's cached query results (the
// query frontend's results cache), so deleted data is never served from
// it. It must be safe for concurrent use.
type BumpCacheGeneration func(ctx context.Context, t tenant.ID) error

const (
	// maxDeleteFormBytes bounds a delete_series request's body: a few
	// selectors.
	maxDeleteFormBytes = 1 << 20
	// maxDeleteSelectors bounds its match[] parameters.
	maxDeleteSelectors = 100
)

// deleteHandler serves Prometheus's POST|PUT /api/v1/admin/tsdb/delete_series
// for the request's tenant.
type deleteHandler struct {
	q      *Querier
	bump   BumpCacheGeneration // nil: no results cache to invalidate.
	parser parser.Parser
}

// DeleteSeriesHandler returns the handler of
// {-querier.http-prefix}/api/v1/admin/tsdb/delete_series, Prometheus's
// series deletion for the tenant of the request's context: match[] (one or
// more selectors), start and end (Unix seconds or RFC 3339; all time by
// default). It writes a tombstone to the store (when the store takes them),
// deletes from every ingester (all must answer), then bumps the tenant's
// results-cache generation, and answers 204 as Prometheus does. A failure
// answers 5xx: the deletion is idempotent and should be retried. bump may
// be nil.
func (q *Querier) DeleteSeriesHandler(bump BumpCacheGeneration) http.Handler {
	return &deleteHandler{q: q, bump: bump, parser: parser.NewParser(parser.Options{})}
}

func (h *deleteHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		writeAPIError(w, http.StatusUnauthorized, "bad_data", err.Error(), h.q.logger, id)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		writeAPIError(w, http.StatusMethodNotAllowed, "bad_data", "delete_series takes POST or PUT", h.q.logger, id)
		return
	}
	req, err := parseDeleteRequest(w, r, h.parser)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "bad_data", err.Error(), h.q.logger, id)
		return
	}
	if err := h.q.queryable.deleteSeries(r.Context(), id, req); err != nil {
		h.q.logger.Warn("Deleting series failed", "tenant", id, "err", err)
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", err.Error(), h.q.logger, id)
		return
	}
	if h.bump != nil {
		if err := h.bump(r.Context(), id); err != nil {
			h.q.logger.Warn("Bumping the results-cache generation after a deletion failed", "tenant", id, "err", err)
			writeAPIError(w, http.StatusServiceUnavailable, "unavailable",
				fmt.Sprintf("the series were deleted but cached query results may still hold them; retry the deletion: %v", err), h.q.logger, id)
			return
		}
	}
	h.q.logger.Info("Deleted series", "tenant", id, "selectors", len(req.MatcherSets), "start_ms", req.StartMs, "end_ms", req.EndMs)
	w.WriteHeader(http.StatusNoContent)
}

// Prometheus's defaults for an absent start and end: all time, in
// milliseconds (its MinTime and MaxTime).
var (
	deleteMinTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC().UnixMilli()
	deleteMaxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC().UnixMilli()
)

// parseDeleteRequest reads match[], start and end; the error names the
// parameter that is wrong.
func parseDeleteRequest(w http.ResponseWriter, r *http.Request, p parser.Parser) (*ingesterpb.DeleteSeriesRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxDeleteFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("parsing form values: %w", err)
	}
	sels := r.Form["match[]"]
	switch {
	case len(sels) == 0:
		return nil, errors.New("no match[] parameter provided")
	case len(sels) > maxDeleteSelectors:
		return nil, fmt.Errorf("%d match[] parameters, at most %d are allowed", len(sels), maxDeleteSelectors)
	}
	start, ok := parseAPITime(r.Form.Get("start"), deleteMinTime)
	if !ok {
		return nil, fmt.Errorf("invalid parameter start: cannot parse %.100q to a valid timestamp", r.Form.Get("start"))
	}
	end, ok := parseAPITime(r.Form.Get("end"), deleteMaxTime)
	if !ok {
		return nil, fmt.Errorf("invalid parameter end: cannot parse %.100q to a valid timestamp", r.Form.Get("end"))
	}
	if start > end {
		return nil, fmt.Errorf("invalid parameters: start %s is after end %s", r.Form.Get("start"), r.Form.Get("end"))
	}
	req := &ingesterpb.DeleteSeriesRequest{StartMs: start, EndMs: end}
	for _, s := range sels {
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("invalid parameter match[] %.200q: %w", s, err)
		}
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches("") }) {
			return nil, fmt.Errorf("invalid parameter match[] %.200q: a selector needs a matcher that does not match the empty string", s)
		}
		for _, m := range ms {
			if m.Name == queryshard.LabelName {
				return nil, fmt.Errorf("invalid parameter match[] %.200q: %s selects query shards, not series to delete", s, queryshard.LabelName)
			}
		}
		pb, err := ingesterpb.FromLabelMatchers(ms)
		if err != nil {
			return nil, fmt.Errorf("invalid parameter match[] %.200q: %w", s, err)
		}
		req.MatcherSets = append(req.MatcherSets, ingesterpb.MatcherSet{Matchers: pb})
	}
	return req, nil
}

// deleteSeries deletes in the store, by tombstones, then on every
// ingester of the ring: a replica left out would serve the data again.
func (q *Queryable) deleteSeries(ctx context.Context, id tenant.ID, req *ingesterpb.DeleteSeriesRequest) error {
	if ts, ok := q.store.(Tombstoner); ok && q.store != nil {
		for _, set := range req.MatcherSets {
			ms, err := ingesterpb.ToLabelMatchers(set.Matchers)
			if err != nil {
				return err
			}
			t := chunk.Tombstone{Matchers: ms, Start: req.StartMs, End: req.EndMs, Created: q.now().UnixMilli()}
			if err := ts.AddTombstone(ctx, string(id), t); err != nil {
				return fmt.Errorf("writing a tombstone to the chunk store: %w", err)
			}
		}
	}
	rs, err := q.readSet(ctx, "delete_series")
	if err != nil {
		return err
	}
	rs.MaxErrors, rs.MaxUnavailableZones = 0, 0
	_, err = rs.Do(ctx, func(ctx context.Context, inst *ringpb.InstanceDesc) (any, error) {
		c, err := q.clients.Get(inst.Addr)
		if err != nil {
			return nil, fmt.Errorf("ingester %s: %w", inst.Addr, err)
		}
		if _, err := c.DeleteSeries(ctx, req); err != nil {
			return nil, fmt.Errorf("ingester %s: %w", inst.Addr, err)
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("deleting from every ingester (all must answer): %w", err)
	}
	// Other queriers' stores may answer from tombstones they read before
	// ours were written, for a few seconds; the results-cache generation
	// is bumped after that, or it would cache their answers anew.
	if st, ok := q.store.(interface{ SettleTombstones(context.Context) error }); ok && q.store != nil {
		return st.SettleTombstones(ctx)
	}
	return nil
}
